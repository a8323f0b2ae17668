import IncidentClient
import IncidentModel
import Metrics
import Testing
import Wire

@testable import IncidentServer

/// The security pieces without sockets: token bucket, authentication gate, role check, config.
@Suite("Client limits and authentication, unit")
struct ClientAuthUnitTests {
    let office = ClientToken(name: "gao", sha256: ClientToken.digest("t-office"), role: .office, sectors: ["east"])
    let reader = ClientToken(name: "obs", sha256: ClientToken.digest("t-reader"), role: .reader)
    /// The gate's refusals are counted nowhere here.
    static let errors = ClientErrors(factory: NOOPMetricsHandler.instance)

    @Test func tokenBucketAllowsTheBurstThenTheRate() {
        let start = ContinuousClock.now
        var bucket = TokenBucket(rate: 10, burst: 5, now: start)
        func take(_ at: Duration) -> Bool { bucket.take(now: start + at) }
        #expect((0..<5).map { _ in take(.zero) } == Array(repeating: true, count: 5))
        #expect(take(.zero) == false, "burst spent")
        #expect(take(.milliseconds(100)) == true, "one token a tenth of a second")
        #expect(take(.milliseconds(150)) == false)
        #expect((0..<6).map { _ in take(.seconds(60)) } == [true, true, true, true, true, false], "refills to the burst, no more")
        var unlimited = TokenBucket(rate: 0, burst: 1, now: start)
        #expect((0..<10_000).map { _ in unlimited.take(now: start) }.allSatisfy { $0 })
    }

    @Test func digestIsLowerCaseHexSHA256() {
        #expect(ClientToken.digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func gateAnswersAuthAndRefusesEverythingElseUntilAuthenticated() throws {
        let authority = ClientAuthority(tokens: [office, reader], anonymous: false, listenerIsLoopback: true)
        var state = ClientAuthState()
        guard case .answer(let denied, false) = authority.gate(Requests.status, state: &state, errors: Self.errors) else { Issue.record("passed"); return }
        #expect(try JSONParser.parse(denied)["error"]?["code"]?.stringValue == "unauthorized")
        guard case .answer(let ok, false) = authority.gate(AuthRequest.line(token: "t-office"), state: &state, errors: Self.errors) else { Issue.record("no answer"); return }
        #expect(String(decoding: ok, as: UTF8.self) == #"{"ok":true,"name":"gao","role":"office","sectors":["east"]}"# + "\n")
        #expect(authority.gate(Requests.status, state: &state, errors: Self.errors) == .pass)
        guard case .answer(let wrong, true) = authority.gate(AuthRequest.line(token: "nope"), state: &state, errors: Self.errors) else { Issue.record("no close"); return }
        #expect(try JSONParser.parse(wrong)["error"]?["code"]?.stringValue == "unauthorized")
        #expect(state.principal == nil)
    }

    /// Before authentication a line longer than an `auth` line can be is refused unparsed
    /// (`line_too_long`, closed); after it, or for an anonymous loopback client, it goes to the
    /// handler unparsed, even when it holds `"auth"`.
    @Test func longLinesAreRefusedUnparsedOnlyBeforeAuthentication() throws {
        let long = Array(#"{"op":"auth","token":""#.utf8) + Array(repeating: UInt8(ascii: "t"), count: 5000) + Array(#""}"#.utf8)
        let authority = ClientAuthority(tokens: [office], anonymous: false, listenerIsLoopback: true)
        var state = ClientAuthState()
        guard case .answer(let refused, true) = authority.gate(long, state: &state, errors: Self.errors) else { Issue.record("not refused and closed"); return }
        #expect(try JSONParser.parse(refused)["error"]?["code"]?.stringValue == "line_too_long")
        // Exactly the limit is still looked at (and here a plain request: unauthorized).
        let atLimit = Array(#"{"op":"status","pad":""#.utf8)
        let padded = atLimit + Array(repeating: UInt8(ascii: " "), count: ClientAuthority.unauthenticatedLineLimit - atLimit.count - 2) + Array(#""}"#.utf8)
        #expect(padded.count == ClientAuthority.unauthenticatedLineLimit)
        guard case .answer(let unauthorized, false) = authority.gate(padded, state: &state, errors: Self.errors) else { Issue.record("at the limit refused"); return }
        #expect(try JSONParser.parse(unauthorized)["error"]?["code"]?.stringValue == "unauthorized")
        _ = authority.gate(AuthRequest.line(token: "t-office"), state: &state, errors: Self.errors)
        #expect(authority.gate(long, state: &state, errors: Self.errors) == .pass)
        let anonymous = ClientAuthority(tokens: [], anonymous: true, listenerIsLoopback: true)
        var anonymousState = ClientAuthState()
        #expect(anonymous.gate(long, state: &anonymousState, errors: Self.errors) == .pass)
    }

    @Test func reloadRevokesARemovedToken() {
        let authority = ClientAuthority(tokens: [office], anonymous: false, listenerIsLoopback: true)
        var state = ClientAuthState()
        _ = authority.gate(AuthRequest.line(token: "t-office"), state: &state, errors: Self.errors)
        #expect(authority.gate(Requests.status, state: &state, errors: Self.errors) == .pass)
        authority.set(tokens: [reader], allowAnonymous: false)
        guard case .answer(_, false) = authority.gate(Requests.status, state: &state, errors: Self.errors) else { Issue.record("still passes"); return }
        #expect(state.principal == nil)
    }

    @Test func anonymousIsNeverAllowedOffLoopback() {
        let authority = ClientAuthority(tokens: [office], anonymous: true, listenerIsLoopback: false)
        #expect(!authority.anonymousAllowed)
        authority.set(tokens: [office], allowAnonymous: true)
        #expect(!authority.anonymousAllowed)
    }

    @Test func rolesAllowWhatTheySay() {
        let event = { (sector: String) in NewEvent(type: .incidentReported, sector: sector, data: .object([])) }
        let officePrincipal = ClientAuthority.principal(office)
        #expect(officePrincipal.refusal(for: .append([event("east")])) == nil)
        #expect(officePrincipal.refusal(for: .append([event("east"), event("west")]))?.code == .forbidden)
        #expect(officePrincipal.refusal(for: .ingest([]))?.code == .forbidden)
        #expect(officePrincipal.refusal(for: .status) == nil)
        #expect(officePrincipal.refusal(for: .get(id: "x:1")) == nil)
        let readerPrincipal = ClientAuthority.principal(reader)
        #expect(readerPrincipal.refusal(for: .append([event("east")]))?.code == .forbidden)
        #expect(readerPrincipal.refusal(for: .read(from: 0, limit: 1, beyond: nil, waitMillis: 0)) == nil)
        #expect(ClientPrincipal.anonymous.refusal(for: .ingest([])) == nil)
        #expect(ClientAuthState().refusal(for: .status)?.code == .unauthorized)
    }

    @Test func tokensParseFromTheFileAndTheEnvironmentAlike() throws {
        let digest = ClientToken.digest("x")
        let json = try JSONParser.parse(
            Array(#"{"tokens":{"gao":{"sha256":"\#(digest)","role":"office","sectors":["east","north"]}},"max_connections":7}"#.utf8))
        let fromFile = try NodeConfig(json: json, file: "f.json")
        var fromText = NodeConfig()
        try fromText.set("tokens", text: "gao=office:\(digest):east+north")
        try fromText.set("max_connections", text: "7")
        #expect(fromFile.tokens == fromText.tokens)
        #expect(fromFile.tokens == [ClientToken(name: "gao", sha256: digest, role: .office, sectors: ["east", "north"])])
        #expect(fromFile.limits.maximumConnections == 7 && fromText.limits.maximumConnections == 7)
    }

    @Test func badSecurityKeysAreRefusedByName() throws {
        func failure(_ text: String) -> String {
            do {
                let config = try NodeConfig(json: try JSONParser.parse(Array(text.utf8)), file: "f.json")
                try config.validateSecurity()
                return "accepted"
            } catch let error as NodeConfig.Failure {
                return error.description
            } catch {
                return "\(error)"
            }
        }
        #expect(failure(#"{"tokens":{"gao":{"sha256":"abc","role":"office","sectors":["east"]}}}"#).hasPrefix("f.json: tokens.gao.sha256: expected 64"))
        #expect(failure(#"{"tokens":{"gao":{"sha256":"\#(ClientToken.digest("x"))","role":"office"}}}"#) == "f.json: tokens.gao: an office token needs its sectors")
        #expect(failure(#"{"tokens":{"gao":{"sha256":"\#(ClientToken.digest("x"))","role":"boss"}}}"#) == "f.json: tokens.gao.role: expected one of office, hq, reader")
        #expect(failure(#"{"tokens":{"gao":{"sha256":"\#(ClientToken.digest("x"))","role":"office","sectors":["mars"]}}}"#).hasPrefix("tokens.gao.sectors: unknown sector mars"))
        #expect(failure(#"{"requests_per_second":-1}"#) == "f.json: requests_per_second: must be at least 0")
        #expect(failure(#"{"max_pending_output_bytes":1024}"#) == "f.json: max_pending_output_bytes: must be at least 65536")
        #expect(failure(#"{"tls_cert":"/x.pem"}"#) == "tls_key: tls_cert and tls_key go together")
        #expect(failure(#"{"peer_tls_cert":"/x.pem","peer_tls_key":"/y.pem"}"#) == "peer_tls_ca: peer_tls_cert, peer_tls_key and peer_tls_ca go together (mutual TLS)")
        #expect(failure(#"{"tls_cert":"/nonexistent.pem","tls_key":"/nonexistent.key"}"#).hasPrefix("tls_cert: cannot load the PEM certificate /nonexistent.pem"))
        #expect(failure(#"{"allow_anonymous_loopback":"yes"}"#) == "f.json: allow_anonymous_loopback: expected true, false or null, got string")
        #expect(failure(#"{"listen":"10.0.0.5:7400"}"#).hasPrefix("tokens: the client listener 10.0.0.5:7400 is not on loopback"))
        #expect(failure(#"{"listen":"localhost:7400"}"#) == "accepted")
    }

    /// One secret under two names: refused when the config loads, from the file or the
    /// environment, naming both tokens (it used to be accepted, the first listed winning).
    @Test func twoTokensWithOneDigestAreRefusedNamingBoth() throws {
        let digest = ClientToken.digest("shared")
        let json = #"{"tokens":{"gao":{"sha256":"\#(digest)","role":"office","sectors":["east"]},"hq":{"sha256":"\#(digest)","role":"hq"}}}"#
        let config = try NodeConfig(json: try JSONParser.parse(Array(json.utf8)), file: "f.json")
        let expected = "tokens: tokens gao and hq have the same sha256; give each token a secret of its own"
        #expect(throws: NodeConfig.Failure.self) { try config.validateSecurity() }
        do {
            try config.validateSecurity()
        } catch {
            #expect(error.description == expected)
        }
        let loader = ConfigLoader(file: nil, environment: ["INCIDENTD_TOKENS": "gao=office:\(digest):east,hq=hq:\(digest)"], flags: [])
        do {
            _ = try loader.load()
            Issue.record("accepted")
        } catch {
            #expect(error.description == expected)
        }
        var distinct = config
        distinct.tokens[1].sha256 = ClientToken.digest("other")
        try distinct.validateSecurity()
    }

    @Test func loopbackAddresses() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "localhost", "::ffff:127.0.0.1"] { #expect(HostPort.isLoopback(host: host), "\(host)") }
        for host in ["0.0.0.0", "10.0.0.1", "::", "gao.mission.example", "128.0.0.1", "127.0.0"] { #expect(!HostPort.isLoopback(host: host), "\(host)") }
    }
}

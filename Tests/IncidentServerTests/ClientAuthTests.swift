import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// Client tokens and roles against a real node (docs/SECURITY.md).
@Suite("Client tokens and roles")
struct ClientAuthTests {
    func endpoint(_ node: some NodeUnderTest, _ token: String?) -> IncidentEndpoint { IncidentEndpoint(node.client, token: token) }

    func count(_ node: some NodeUnderTest) async throws -> Int64 {
        let status = try await IncidentConnection.withConnection(to: endpoint(node, Security.hqToken)) { try await $0.request(Requests.status) }
        return status["events"]?.integerValue ?? -1
    }

    func code(of body: () async throws -> Void) async -> String? {
        do {
            try await body()
            return nil
        } catch let ClientError.server(code, _, _) {
            return code
        } catch {
            return "\(error)"
        }
    }

    @Test func officeAppendsOnlyToItsSectorsAndEveryRoleReads() async throws {
        try await Security.inProcess("gao", config: Security.tokenConfig()) { node in
            try await IncidentConnection.withConnection(to: endpoint(node, Security.officeToken)) { c in
                let east = try await c.request(Requests.append(eventObjects: [Fixtures.incident("o1", sector: "east")]))
                #expect(east["ids"] == .array([.string("gao:1")]))
                // One event outside the office's sectors refuses the whole request.
                try await c.send(Requests.append(eventObjects: [Fixtures.incident("o2", sector: "north"), Fixtures.incident("o3", sector: "west")]))
                let refused = try await c.receive()
                #expect(Security.errorCode(refused) == "forbidden")
                #expect(String(decoding: refused, as: UTF8.self).contains("events[1].sector"))
                // Reads: everything, every sector.
                #expect(try await c.request(Requests.get(id: "gao:1"))["event"]?["sector"]?.stringValue == "east")
                #expect(try await c.request(Requests.read(from: 0, limit: 10))["events"]?.arrayValue?.count == 1)
                #expect(try await c.request(Requests.status)["events"]?.integerValue == 1)
                // Bundles are for hq.
                try await c.send(Requests.ingest(eventLines: try await Fixtures.export(node.client, token: Security.hqToken)))
                #expect(Security.errorCode(try await c.receive()) == "forbidden")
            }
            let readerAppend = await code {
                _ = try await IncidentConnection.withConnection(to: endpoint(node, Security.readerToken)) { c in
                    #expect(try await c.request(Requests.status)["node"]?.stringValue == "gao")
                    // Queries are reads: every role may run them.
                    try await c.send(Array(#"{"op":"overview"}"#.utf8))
                    #expect(!["forbidden", "unauthorized", "unknown_request"].contains(Security.errorCode(try await c.receive()) ?? ""))
                    return try await c.request(Requests.append(eventObjects: [Fixtures.incident("r1")]))
                }
            }
            #expect(readerAppend == "forbidden")
            let hq = try await IncidentConnection.withConnection(to: endpoint(node, Security.hqToken)) { c in
                try await c.request(Requests.append(eventObjects: [Fixtures.incident("h1", sector: "west"), Fixtures.incident("h2", sector: "bamako")]))
            }
            #expect(hq["ids"] == .array([.string("gao:2"), .string("gao:3")]))
            #expect(try await count(node) == 3, "nothing of a forbidden request was written")
        }
    }

    /// Events naming an incident: an office acts on incidents of its own sectors only, whatever
    /// sector the envelope claims.
    @Test func officeCannotChangeAnIncidentOfAnotherSector() async throws {
        func event(_ type: String, _ sector: String, _ data: String) -> [UInt8] {
            Array(#"{"type":"\#(type)","sector":"\#(sector)","data":\#(data)}"#.utf8)
        }
        func acts(on id: String, claiming sector: String) -> [[UInt8]] {
            [
                event("incident.retracted", sector, #"{"incident_id":"\#(id)","reason":"false_report"}"#),
                event("incident.updated", sector, #"{"incident_id":"\#(id)","changes":{"summary":"nothing happened"}}"#),
                event("incident.verified", sector, #"{"incident_id":"\#(id)","status":"verified","basis":"trust me"}"#),
            ]
        }
        try await Security.inProcess("gao", config: Security.tokenConfig()) { node in
            _ = try await IncidentConnection.withConnection(to: endpoint(node, Security.hqToken)) { c in
                try await c.request(Requests.append(eventObjects: [Fixtures.incident("w1", sector: "west"), Fixtures.incident("e1", sector: "east")]))
            }
            // Views follow the log: an append is answered once stored, not once folded, and the
            // query below and the office's checks read the views.
            try await Security.wait("both reports folded", timeout: .seconds(30)) {
                let status = try await IncidentConnection.withConnection(to: endpoint(node, Security.hqToken)) { try await $0.request(Requests.status) }
                return status["projections"]?["folded"]?.integerValue == 2
            }
            let westBefore = try await IncidentConnection.withConnection(to: endpoint(node, Security.hqToken)) { c in
                try await c.request(Array(#"{"op":"incident","id":"w1"}"#.utf8))
            }
            try await IncidentConnection.withConnection(to: endpoint(node, Security.officeToken)) { c in
                for line in acts(on: "w1", claiming: "east") {
                    try await c.send(Requests.append(eventObjects: [line]))
                    let refused = try await c.receive()
                    let text = String(decoding: refused, as: UTF8.self)
                    #expect(Security.errorCode(refused) == "forbidden", "\(text)")
                    #expect(text.contains("w1") && text.contains("west"), "names the incident and its sector: \(text)")
                }
                // Hidden among allowed events, it still refuses the whole append.
                try await c.send(Requests.append(eventObjects: [Fixtures.incident("e2", sector: "east")] + acts(on: "w1", claiming: "east")))
                #expect(Security.errorCode(try await c.receive()) == "forbidden")
            }
            #expect(try await count(node) == 2, "nothing of a forbidden request was written")
            let westAfter = try await IncidentConnection.withConnection(to: endpoint(node, Security.hqToken)) { c in
                try await c.request(Array(#"{"op":"incident","id":"w1"}"#.utf8))
            }
            #expect(westAfter == westBefore, "the west incident is unchanged")
            try await IncidentConnection.withConnection(to: endpoint(node, Security.officeToken)) { c in
                for line in acts(on: "e1", claiming: "east") {
                    let ok = try await c.request(Requests.append(eventObjects: [line]))
                    #expect(ok["ids"]?.arrayValue?.count == 1)
                }
                // A report and an event naming it in one append, and right after a report.
                let both = try await c.request(Requests.append(eventObjects: [Fixtures.incident("e3", sector: "east")] + acts(on: "e3", claiming: "east")))
                #expect(both["ids"]?.arrayValue?.count == 4)
                _ = try await c.request(Requests.append(eventObjects: [Fixtures.incident("e4", sector: "north")]))
                #expect(try await c.request(Requests.append(eventObjects: acts(on: "e4", claiming: "north")))["ids"]?.arrayValue?.count == 3)
                // An incident the node has no report of: its own code, nothing written.
                try await c.send(Requests.append(eventObjects: acts(on: "nowhere", claiming: "east")))
                #expect(Security.errorCode(try await c.receive()) == "unknown_incident")
            }
            #expect(try await count(node) == 2 + 3 + 4 + 1 + 3)
        }
    }

    @Test func missingOrWrongTokenIsUnauthorizedAndNothingIsWritten() async throws {
        try await Security.inProcess("gao", config: Security.tokenConfig()) { node in
            // Raw reads wait on the socket: on a thread of their own, not the pool the node runs on.
            let raw = try RawClient(node.client)
            #expect(raw.send(line: Requests.status))
            let status = try await Security.blocking { raw.readLine() }
            #expect(Security.errorCode(status ?? []) == "unauthorized")
            #expect(raw.send(line: Requests.append(eventObjects: [Fixtures.incident("x")])))
            let append = try await Security.blocking { raw.readLine() }
            #expect(Security.errorCode(append ?? []) == "unauthorized")
            // The same connection may still authenticate.
            #expect(raw.send(line: AuthRequest.line(token: Security.officeToken)))
            let ok = try JSONParser.parse(try await Security.blocking { raw.readLine() } ?? [])
            #expect(ok["role"]?.stringValue == "office" && ok["name"]?.stringValue == "gao-office")
            // A wrong token is answered, then the connection is closed.
            let wrong = try RawClient(node.client)
            #expect(wrong.send(line: AuthRequest.line(token: "guess")))
            let answer = try await Security.blocking { wrong.readLine() }
            #expect(Security.errorCode(answer ?? []) == "unauthorized")
            let after = try await Security.blocking { wrong.readLine(timeout: 5) }
            #expect(after == nil)
            #expect(wrong.closed, "closed after a wrong token")
            let viaLibrary = await code {
                _ = try await IncidentConnection.withConnection(to: endpoint(node, "also-wrong")) { try await $0.request(Requests.status) }
            }
            #expect(viaLibrary == "unauthorized")
            #expect(try await count(node) == 0)
        }
    }

    @Test func anonymousLoopbackClientsAreHQAndTheNodeWarns() async throws {
        try await Security.inProcess("gao", config: "{\(Security.tokensJSON)}") { node in
            #expect(node.log.contains("level=warning msg=\"anonymous clients on loopback get the hq role"))
            let r = try await IncidentConnection.withConnection(to: node.client) { c in
                try await c.request(Requests.append(eventObjects: [Fixtures.incident("a1", sector: "west")]))
            }
            #expect(r["ids"] == .array([.string("gao:1")]))
            // A client that presents a token gets the token's role, not anonymous hq.
            let office = await code {
                _ = try await IncidentConnection.withConnection(to: endpoint(node, Security.officeToken)) {
                    try await $0.request(Requests.append(eventObjects: [Fixtures.incident("a2", sector: "west")]))
                }
            }
            #expect(office == "forbidden")
        }
    }

    /// Off loopback, tokens are required: the node refuses to start, naming the key, before it
    /// binds anything (so the test never listens beyond 127.0.0.1).
    @Test func nodeOffLoopbackRefusesToStartWithoutTokens() async throws {
        let dir = TestNode.temporaryDirectory(prefix: "offloopback")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bare = try await Security.run("incidentd", ["--data-dir", dir + "/data", "--listen", "0.0.0.0:0", "--peer-listen", "off"])
        #expect(bare.status == 1)
        #expect(bare.stderr.hasPrefix("incidentd: tokens: the client listener 0.0.0.0:0 is not on loopback"), "\(bare.stderr)")
        let anonymous = try await Security.run(
            "incidentd", ["--data-dir", dir + "/data", "--listen", "0.0.0.0:0", "--peer-listen", "off"],
            environment: ["INCIDENTD_ALLOW_ANONYMOUS_LOOPBACK": "true", "INCIDENTD_TOKENS": "hq=hq:\(Security.digest("t"))"])
        #expect(anonymous.status == 1)
        #expect(anonymous.stderr.contains("allow_anonymous_loopback: the client listener 0.0.0.0:0 is not on loopback"), "\(anonymous.stderr)")
        let nobody = try await Security.run(
            "incidentd", ["--data-dir", dir + "/data", "--listen", "127.0.0.1:0"], environment: ["INCIDENTD_ALLOW_ANONYMOUS_LOOPBACK": "false"])
        #expect(nobody.status == 1)
        #expect(nobody.stderr.contains("tokens: allow_anonymous_loopback is false and no tokens are configured"), "\(nobody.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/data"), "nothing is created")
    }

    @Test func sighupReloadsTokensAndRevokesOpenConnections() async throws {
        let newToken = "replacement-token-91c2"
        try await Security.withNode("gao", config: Security.tokenConfig()) { node in
            let config = node.dataDir + ".json"
            let raw = try RawClient(node.client)
            #expect(raw.send(line: AuthRequest.line(token: Security.hqToken)))
            #expect(Security.errorCode(raw.readLine() ?? [0]) == nil)
            #expect(raw.send(line: Requests.status))
            #expect(Security.errorCode(raw.readLine() ?? [0]) == nil)

            let replaced = "{\"tokens\": {\"hq2\": {\"sha256\": \"\(Security.digest(newToken))\", \"role\": \"hq\"}}, \"allow_anonymous_loopback\": false}"
            try Data(replaced.utf8).write(to: URL(fileURLWithPath: config))
            node.send(signal: SIGHUP)
            try await Security.wait("the reload") { node.log.contains("config.applied=tokens") }

            #expect(raw.send(line: Requests.append(eventObjects: [Fixtures.incident("after-revoke")])))
            #expect(Security.errorCode(raw.readLine() ?? []) == "unauthorized", "the open connection's token was revoked")
            let old = await code {
                _ = try await IncidentConnection.withConnection(to: endpoint(node, Security.hqToken)) { try await $0.request(Requests.status) }
            }
            #expect(old == "unauthorized")
            let status = try await IncidentConnection.withConnection(to: endpoint(node, newToken)) { try await $0.request(Requests.status) }
            #expect(status["events"]?.integerValue == 0)
        }
    }

    /// The envelope (origin, seq, id, hlc, recorded_at, prev, hash, sig) is the node's: a client
    /// naming any of it in an event is refused; members beside the request are ignored; an
    /// office's events carry this node's origin, not the token's name.
    @Test func clientCannotSetEnvelopeFields() async throws {
        try await Security.inProcess("gao", config: Security.tokenConfig()) { node in
            try await IncidentConnection.withConnection(to: endpoint(node, Security.officeToken)) { c in
                for field in ["origin", "seq", "id", "hlc", "recorded_at", "prev", "hash", "sig"] {
                    var event = Fixtures.incident("e-\(field)")
                    event.removeLast()
                    event += Array(",\"\(field)\":\"bamako-hq\"}".utf8)
                    try await c.send(Requests.append(eventObjects: [event]))
                    let line = try await c.receive()
                    #expect(Security.errorCode(line) == "invalid_event", "\(field)")
                    #expect((try? JSONParser.parse(line))?["error"]?["field"]?.stringValue == "events[0].\(field)")
                }
                let request = Array(
                    #"{"op":"append","origin":"bamako-hq","seq":99,"sig":"x","event":{"type":"incident.reported","sector":"east","data":{"incident_id":"env","category":"ied","summary":"s","occurred_at":"2026-11-28T06:40:00Z","location":{"name":"Gao"},"origin":"bamako-hq"}}}"#
                        .utf8)
                let r = try await c.request(request)
                #expect(r["ids"] == .array([.string("gao:1")]))
            }
            let lines = try await Fixtures.export(node.client, token: Security.hqToken)
            let events = try Fixtures.verifyChains(lines)
            #expect(events.map(\.origin) == ["gao"])
            #expect(events.map(\.seq) == [1])
            let stored = try JSONParser.parse(lines[0])
            #expect(stored["data"]?["origin"]?.stringValue == "bamako-hq", "a payload member is data, not envelope")
            #expect(stored["origin"]?.stringValue == "gao")
        }
    }

    /// `incidentd --hash-token` prints what `printf %s TOKEN | sha256sum` prints.
    @Test func hashTokenAgreesWithSha256sum() async throws {
        let echoed = try await Security.run("incidentd", ["--hash-token"], stdin: "s3cret-token\n")
        let printed = try await Security.run("incidentd", ["--hash-token"], stdin: "s3cret-token")
        #expect(echoed.status == 0)
        let sha256sum = try await Security.run(executable: "/usr/bin/sha256sum", [], stdin: "s3cret-token")
        #expect(echoed.stdout == String(sha256sum.stdout.prefix(64)) + "\n")
        #expect(printed.stdout == echoed.stdout)
    }

    /// incidentctl sends `--token` or `$INCIDENTCTL_TOKEN`.
    @Test func incidentctlTakesTheTokenFromTheFlagOrTheEnvironment() async throws {
        try await Security.withNode("gao", config: Security.tokenConfig()) { node in
            let at = ["--node", node.client.description]
            let none = try await Security.run("incidentctl", ["status"] + at)
            #expect(none.status == 1)
            #expect(none.stderr.contains("unauthorized"), "\(none.stderr)")
            let flag = try await Security.run("incidentctl", ["status", "--token", Security.readerToken] + at)
            #expect(flag.status == 0, "\(flag.stderr)")
            #expect(flag.stdout.contains("node        gao"))
            let env = try await Security.run(
                "incidentctl", ["append", "--type", "incident.reported", "--sector", "east", "--data", #"{"category":"ied","summary":"s","occurred_at":"2026-11-28T06:40:00Z","location":{"name":"Gao"}}"#] + at,
                environment: ["INCIDENTCTL_TOKEN": Security.officeToken])
            #expect(env.status == 0, "\(env.stderr)")
            #expect(env.stdout == "gao:1\n")
        }
    }
}

extension Fixtures {
    /// Every stored line of the node, read with `token`.
    static func export(_ node: HostPort, token: String) async throws -> [[UInt8]] {
        try await IncidentConnection.withConnection(to: IncidentEndpoint(node, token: token)) { try await $0.storedLines() }
    }
}

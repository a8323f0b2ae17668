import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing
import Wire

/// Hostile clients against a real node: each gets its error, nothing is stored that
/// should not be, the node stays up, other clients carry on, memory stays bounded. The peer side
/// is in HostilePeerTests; limits in ConnectionLimitTests.
@Suite("Hostile clients against a real node")
struct HostileClientTests {
    func status(_ node: TestNode) async throws -> JSONValue {
        try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
    }

    @Test func garbageBytesGetTheirErrorsAndTheNodeGoesOn() async throws {
        try await Security.withNode { node in
            let (answers, after) = try await Security.blocking { () -> ([[UInt8]], String?) in
                var rng = SystemRandomNumberGenerator()
                let c = try RawClient(node.client)
                var garbage: [UInt8] = []
                for _ in 0..<200 {
                    garbage += (0..<Int.random(in: 1...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }.filter { $0 != 0x0A }
                    garbage.append(0x0A)
                }
                let lineCount = garbage.filter { $0 == 0x0A }.count
                #expect(c.send(garbage))
                let answers = (0..<lineCount).compactMap { _ in c.readLine() }
                _ = c.send(line: Requests.status)
                return (answers, Security.errorCode(c.readLine() ?? [0]))
            }
            #expect(answers.count == 200, "every line answered")
            #expect(answers.allSatisfy { ["invalid_json", "invalid_request"].contains(Security.errorCode($0) ?? "") })
            #expect(after == nil, "the connection goes on")
            // Binary without a newline: refused at max_line_bytes, connection closed.
            let refused = try await Security.blocking { () -> [[UInt8]] in
                let c = try RawClient(node.client)
                return c.flood(0xFF, total: 4 << 20) { Security.errorCode($0) != nil }.lines
            }
            #expect(refused.last.flatMap(Security.errorCode) == "line_too_long")
            #expect(try await status(node)["events"]?.integerValue == 0)
        }
    }

    /// A 100 MB line: answered `line_too_long` as soon as `max_line_bytes` have arrived, not at
    /// its end, while the node's RSS stays within a few MiB of where it was.
    @Test func hundredMegabyteLineIsRefusedEarlyInBoundedMemory() async throws {
        try await Security.withNode { node in
            let baseline = Security.rssKiB(Security.pid(node)) ?? 0
            let ((sent, lines), peak) = try await Security.peakRSS(node) {
                try await Security.blocking {
                    let c = try RawClient(node.client)
                    return c.flood(UInt8(ascii: "x"), total: 100 << 20) { Security.errorCode($0) != nil }
                }
            }
            #expect(lines.count == 1 && Security.errorCode(lines[0]) == "line_too_long")
            #expect(sent < 16 << 20, "answered after \(sent >> 20) MiB of a 100 MiB line")
            #expect(peak - baseline < 24 << 10, "RSS grew by \((peak - baseline) >> 10) MiB")
            #expect(try await status(node)["node"]?.stringValue == "test")
        }
    }

    /// Bundles through `ingest` follow the ingest rule: an event re-signed by another key
    /// (`bad_signature`), one of an origin the node has no key for (`untrusted_origin`) — nothing
    /// of either is stored; replaying a good bundle stores nothing twice.
    @Test func forgedUntrustedAndReplayedBundlesThroughIngest() async throws {
        let gao = NodeIdentity(privateKey: .init())
        let mallory = NodeIdentity(privateKey: .init())
        func events(_ origin: String, _ n: Int, signer: NodeIdentity) -> [[UInt8]] {
            var prev: EventHash? = nil
            return (1...n).map { seq in
                let draft = Event.Draft(
                    origin: origin, seq: UInt64(seq), prev: prev, hlc: HLCTimestamp(wallMillis: 1_764_374_400_000 + UInt64(seq), counter: 0),
                    recordedAtMillis: 1_764_374_400_000, type: "incident.reported", sector: "east", data: Array("{\"incident_id\":\"b\(seq)\"}".utf8))
                let e = Event.encode(draft, signer: seq == n ? signer.privateKey : nil)
                prev = e.hash
                return e.line
            }
        }
        try await Security.withNode(arguments: ["--fsync", "never", "--trust", "gao=\(gao.publicKeyBase64)"]) { node in
            try await IncidentConnection.withConnection(to: node.client) { c in
                let forged = try await c.request(Requests.ingest(eventLines: events("gao", 3, signer: mallory)))
                #expect(forged["new"]?.integerValue == 0)
                #expect(forged["refused"]?.arrayValue?.count == 3, "the forged event and the run waiting on it: \(forged)")
                #expect(forged["refused"]?.arrayValue?.allSatisfy { $0["code"]?.stringValue == "bad_signature" } == true, "\(forged)")
                #expect(forged["pending"]?.integerValue == 0)
                let ghost = try await c.request(Requests.ingest(eventLines: events("ghost", 2, signer: mallory)))
                #expect(ghost["new"]?.integerValue == 0)
                #expect(ghost["refused"]?.arrayValue?.allSatisfy { $0["code"]?.stringValue == "untrusted_origin" } == true, "\(ghost)")
                #expect(try await c.request(Requests.status)["events"]?.integerValue == 0)
                // The same connection goes on: the refused run does not linger.
                let good = events("gao", 3, signer: gao)
                #expect(try await c.request(Requests.ingest(eventLines: good))["new"]?.integerValue == 3)
                let replay = try await c.request(Requests.ingest(eventLines: good))
                #expect(replay["new"]?.integerValue == 0 && replay["duplicate"]?.integerValue == 3)
            }
            let lines = try await Fixtures.export(node.client)
            #expect(lines.count == 3)
            #expect(try Fixtures.verifyChains(lines).map(\.id) == ["gao:1", "gao:2", "gao:3"])
        }
    }
}

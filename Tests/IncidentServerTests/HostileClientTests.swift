import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing
import Wire

@testable import IncidentServer

/// Hostile clients against a real node: each gets its error, nothing is stored that
/// should not be, the node stays up, other clients carry on, memory stays bounded. The peer side
/// is in HostilePeerTests; limits in ConnectionLimitTests.
@Suite("Hostile clients against a real node")
struct HostileClientTests {
    func status(_ node: some NodeUnderTest) async throws -> JSONValue {
        try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
    }

    @Test func garbageBytesGetTheirErrorsAndTheNodeGoesOn() async throws {
        try await Security.inProcess { node in
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
        try await Security.inProcess(arguments: ["--fsync", "never", "--trust", "gao=\(gao.publicKeyBase64)"]) { node in
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

    /// A bundle of gao's 50 events (signed every 10th) with one byte of event 23 changed, mixed
    /// with kidal's 30, sent in two requests on one connection: gao 1–20 and all of kidal are
    /// stored; gao 23 is refused (`bad_hash`) with the run 21–22 that waited on its signature;
    /// gao 24–50 are skipped, each `waits_on` gao:23, in both requests. No line goes unreported.
    @Test func aCorruptedEventRefusesItsRunSkipsWhatFollowsAndOtherOriginsGoOn() async throws {
        let gao = NodeIdentity(privateKey: .init())
        let kidal = NodeIdentity(privateKey: .init())
        var gaoLines = Bundles.chain("gao", 50, signer: gao, signedAt: [10, 20, 30, 40, 50])
        gaoLines[22] = Bundles.corrupted(gaoLines[22])
        let bundle = Bundles.interleave(gaoLines, Bundles.chain("kidal", 30, signer: kidal, signedAt: [15, 30]))
        let trust = ["--trust", "gao=\(gao.publicKeyBase64)", "--trust", "kidal=\(kidal.publicKeyBase64)"]
        try await Security.inProcess(arguments: ["--fsync", "never"] + trust) { node in
            var new = 0, duplicate = 0, pending = 0
            var refused: [(id: String, code: String)] = []
            var skipped: [(id: String, waitsOn: String)] = []
            try await IncidentConnection.withConnection(to: node.client) { c in
                for part in [bundle[..<50], bundle[50...]] {
                    let r = try await c.request(Requests.ingest(eventLines: Array(part)))
                    new += Int(r["new"]?.integerValue ?? 0)
                    duplicate += Int(r["duplicate"]?.integerValue ?? 0)
                    pending = Int(r["pending"]?.integerValue ?? 0)
                    refused += (r["refused"]?.arrayValue ?? []).map { ($0["id"]?.stringValue ?? "", $0["code"]?.stringValue ?? "") }
                    skipped += (r["skipped"]?.arrayValue ?? []).map { ($0["id"]?.stringValue ?? "", $0["waits_on"]?.stringValue ?? "") }
                }
            }
            #expect(new == 50 && duplicate == 0 && pending == 0)
            #expect(refused.map(\.id) == ["gao:23", "gao:21", "gao:22"], "\(refused)")
            #expect(refused.allSatisfy { $0.code == "bad_hash" }, "\(refused)")
            #expect(skipped.map(\.id) == (24...50).map { "gao:\($0)" }, "\(skipped)")
            #expect(skipped.allSatisfy { $0.waitsOn == "gao:23" })
            #expect(new + duplicate + refused.count + skipped.count == bundle.count, "every line accounted for")
            let stored = try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
            #expect(stored["vector"]?["gao"]?.integerValue == 20 && stored["vector"]?["kidal"]?.integerValue == 30, "\(stored)")
            // The mended bundle, sent again on a new connection, completes gao.
            let mended = Bundles.chain("gao", 50, signer: gao, signedAt: [10, 20, 30, 40, 50])
            let again = try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.ingest(eventLines: mended)) }
            #expect(again["new"]?.integerValue == 30 && again["duplicate"]?.integerValue == 20, "\(again)")
        }
    }

    /// Connections that send unsigned chained events of a trusted origin and never the signed
    /// one: each holds at most `(4 << 20)` (then
    /// `unsigned_run_too_long`, the rest skipped), and once they close the node's RSS comes back
    /// near where it was.
    @Test func unsignedRunsOfManyConnectionsAreBoundedAndReleasedOnClose() async throws {
        let gao = NodeIdentity(privateKey: .init())
        // 6000 events of ~4 KiB: 24 MiB of unsigned events a connection, sent in ~900 KiB requests.
        let lines = Bundles.chain("gao", 6000, signer: gao, signedAt: [], padding: 4000)
        var requests: [[UInt8]] = []
        var chunk: [[UInt8]] = []
        var bytes = 0
        for line in lines {
            if bytes + line.count > 900 << 10 {
                requests.append(Requests.ingest(eventLines: chunk))
                chunk = []
                bytes = 0
            }
            chunk.append(line)
            bytes += line.count + 1
        }
        requests.append(Requests.ingest(eventLines: chunk))
        let allRequests = requests
        let connections = 12
        try await Security.withNode(arguments: ["--fsync", "never", "--trust", "gao=\(gao.publicKeyBase64)"]) { node in
            let pid = Security.pid(node)
            let baseline = Security.rssKiB(pid) ?? 0
            let (answers, peak) = try await Security.peakRSS(node) {
                try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
                    // All open at once, every one holding what it was let hold, before any closes.
                    let opened = Shared(0)
                    for _ in 0..<connections {
                        group.addTask {
                            try await Security.blocking {
                                let c = try RawClient(node.client)
                                var answers: [[UInt8]] = []
                                for r in allRequests {
                                    _ = c.send(line: r)
                                    answers.append(c.readLine(timeout: 60) ?? [])
                                }
                                opened.withLock { $0 += 1 }
                                while opened.withLock({ $0 }) < connections { usleep(10_000) }
                                return answers
                            }
                        }
                    }
                    var all: [[UInt8]] = []
                    for try await a in group { all += a }
                    return all
                }
            }
            var held = 0, refused: [String] = [], skipped = 0
            for a in answers {
                guard let r = try? JSONParser.parse(a) else { continue }
                held = max(held, Int(r["pending"]?.integerValue ?? 0))
                refused += (r["refused"]?.arrayValue ?? []).compactMap { $0["code"]?.stringValue }
                skipped += r["skipped"]?.arrayValue?.count ?? 0
            }
            // Settle: the connections are closed; give the node a moment to free what they held.
            try await Task.sleep(for: .seconds(2))
            let after = Security.rssKiB(pid) ?? 0
            let sent = "\(connections) connections × \(allRequests.count) requests of unsigned events (\(lines.count) events, \(lines.reduce(0) { $0 + $1.count } >> 20) MiB each)"
            print("ingest flood: \(sent): RSS baseline \(baseline >> 10) MiB, peak \(peak >> 10) MiB, after close \(after >> 10) MiB")
            #expect(held * 4100 <= RequestHandler.maximumPendingIngestBytes, "a connection held \(held) events")
            #expect(refused.contains("unsigned_run_too_long"), "\(Set(refused))")
            // Each connection's run was refused with what it held, the rest skipped: nothing left held.
            #expect(refused.count + skipped == lines.count * connections, "refused \(refused.count), skipped \(skipped)")
            #expect(peak - baseline < 128 << 10, "RSS grew by \((peak - baseline) >> 10) MiB")
            #expect(after - baseline < 16 << 10, "RSS stayed \((after - baseline) >> 10) MiB above its baseline after the connections closed")
            #expect(try await status(node)["events"]?.integerValue == 0)
        }
    }
}

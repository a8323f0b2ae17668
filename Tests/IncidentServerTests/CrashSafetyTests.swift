import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Synchronization
import Testing
import Wire

@Suite("Crash safety with the real binary")
struct CrashSafetyTests {
    /// Several clients append while the daemon is SIGKILLed at random moments, each kill leaving
    /// the newest segment with its reserved tail of zeros. After every restart
    /// each acknowledged event is present exactly once, all hashes and chains verify, and the node
    /// takes appends again. Seeded: set INCIDENTLOG_CRASH_SEED to replay a failure.
    @Test func acknowledgedEventsSurviveSIGKILL() async throws {
        let seed = ProcessInfo.processInfo.environment["INCIDENTLOG_CRASH_SEED"].flatMap(UInt64.init)
            ?? UInt64.random(in: 1...UInt64(UInt32.max))
        let rounds = ProcessInfo.processInfo.environment["INCIDENTLOG_CRASH_ROUNDS"].flatMap(Int.init) ?? 20
        print("crash test seed \(seed) (INCIDENTLOG_CRASH_SEED=\(seed) replays it), \(rounds) rounds")
        var rng = SplitMix64(seed: seed)
        let node = TestNode(nodeID: "crash")
        defer {
            node.discard()
        }
        // marker (incident_id) → event id, for every acknowledged append.
        var acknowledged: [String: String] = [:]
        var everSent = Set<String>()
        for round in 0..<rounds {
            try await node.start()
            let clients = 4
            let runMillis = 30 + Int(rng.next() % 250)
            let acks = Shared<[(String, String)]>([])
            let sent = Shared<[String]>([])
            let address = node.client
            let clientSeeds = (0..<clients).map { _ in rng.next() }
            await withTaskGroup(of: Void.self) { group in
                for c in 0..<clients {
                    group.addTask {
                        var local = SplitMix64(seed: clientSeeds[c])
                        var n = 0
                        try? await IncidentConnection.withConnection(to: address) { connection in
                            while true {
                                let batch = 1 + Int(local.next() % 4)
                                let markers = (0..<batch).map { i in "r\(round)-c\(c)-\(n)-\(i)" }
                                n += 1
                                sent.withLock { $0 += markers }
                                let response = try await connection.request(
                                    Requests.append(eventObjects: markers.map { Fixtures.incident($0) }))
                                let ids = response["ids"]?.arrayValue?.compactMap(\.stringValue) ?? []
                                acks.withLock { $0 += zip(markers, ids).map { ($0, $1) } }
                            }
                        }
                    }
                }
                try? await Task.sleep(for: .milliseconds(runMillis))
                await node.kill9()
            }
            for (marker, id) in acks.withLock({ $0 }) { acknowledged[marker] = id }
            everSent.formUnion(sent.withLock { $0 })

            try await node.start()
            let events = try Fixtures.verifyChains(try await Fixtures.export(node.client))
            var seen: [String: String] = [:]
            for e in events {
                let data = try JSONParser.parse(Array(e.dataBytes))
                let marker = try #require(data["incident_id"]?.stringValue)
                #expect(seen[marker] == nil, "seed \(seed) round \(round): \(marker) stored twice")
                #expect(everSent.contains(marker), "seed \(seed) round \(round): \(marker) was never sent")
                seen[marker] = e.id
            }
            for (marker, id) in acknowledged {
                #expect(seen[marker] == id, "seed \(seed) round \(round): acknowledged \(marker) as \(id), found \(seen[marker] ?? "nothing")")
            }
            // The node takes appends after the crash, continuing the chain.
            let r = try await IncidentConnection.withConnection(to: node.client) { c in
                try await c.request(Requests.append(eventObjects: [Fixtures.incident("after-crash-\(round)")]))
            }
            let id = try #require(r["ids"]?.arrayValue?.first?.stringValue)
            #expect(id == "crash:\(events.count + 1)")
            acknowledged["after-crash-\(round)"] = id
            everSent.insert("after-crash-\(round)")
            await node.kill9()
            // The kill leaves the newest segment with its reserved tail of zeros after the data,
            // so the next round's start recovers a preallocated segment.
            let segments = try FileManager.default.contentsOfDirectory(atPath: node.dataDir + "/segments").filter { $0.hasSuffix(".jsonl") }
            let newest = try #require(segments.max())
            let file = try #require(FileManager.default.contents(atPath: node.dataDir + "/segments/" + newest))
            #expect(file.last == 0, "seed \(seed) round \(round): \(newest) has no reserved tail after the kill")
        }
        #expect(acknowledged.count > rounds, "the clients got no acknowledgements at all")
    }
}

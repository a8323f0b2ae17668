import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing
import Wire

/// Five nodes in a random connected topology; random appends, SIGKILLs and restarts for some
/// rounds; then everything must converge. Seeded: the seed is printed, and
/// INCIDENTLOG_CHAOS_SEEDS=1,2,3 replays chosen seeds (INCIDENTLOG_CHAOS_ROUNDS sets the rounds).
/// `make test` runs a few seeds; `make chaos` many.
@Suite("Randomized replication chaos")
struct ChaosTests {
    static var seeds: [UInt64] {
        if let list = ProcessInfo.processInfo.environment["INCIDENTLOG_CHAOS_SEEDS"] {
            return list.split(separator: ",").compactMap { UInt64($0) }
        }
        return (0..<2).map { _ in UInt64.random(in: 1...UInt64(UInt32.max)) }
    }

    @Test(arguments: seeds)
    func randomTopologyWithCrashesConverges(seed: UInt64) async throws {
        let rounds = ProcessInfo.processInfo.environment["INCIDENTLOG_CHAOS_ROUNDS"].flatMap(Int.init) ?? 6
        print("chaos seed \(seed), \(rounds) rounds (INCIDENTLOG_CHAOS_SEEDS=\(seed) replays it)")
        var rng = SplitMix64(seed: seed)
        let ids = ["a", "b", "c", "d", "e"]
        let cluster = try await TestCluster(ids: ids)
        defer { cluster.removeFiles() }

        // A random spanning tree (each node dials one earlier node), plus up to two extra links.
        var dials: [String: [String]] = [:]
        for i in 1..<ids.count { dials[ids[i], default: []].append(ids[Int(rng.next() % UInt64(i))]) }
        for _ in 0..<Int(rng.next() % 3) {
            let x = Int(rng.next() % 5), y = Int(rng.next() % 5)
            if x > y, !(dials[ids[x]] ?? []).contains(ids[y]) { dials[ids[x], default: []].append(ids[y]) }
        }
        print("chaos seed \(seed) topology \(dials.sorted { $0.key < $1.key })")
        for id in ids { try await cluster.start(id, dialing: dials[id] ?? []) }

        var acknowledged = VersionVector()
        var running = Set(ids)
        for round in 0..<rounds {
            for id in running.sorted() where rng.next() % 3 != 0 {
                let n = 1 + Int(rng.next() % 20)
                let markers = (0..<n).map { "\(id)-r\(round)-\($0)" }
                let r = try await IncidentConnection.withConnection(to: cluster[id].client) { c in
                    try await c.request(Requests.append(eventObjects: markers.map { Fixtures.incident($0) }))
                }
                if let last = r["ids"]?.arrayValue?.last?.stringValue, let seq = UInt64(last.split(separator: ":")[1]) {
                    acknowledged[id] = max(acknowledged[id], seq)
                }
            }
            // Kill one running node, restart one stopped node.
            if rng.next() % 2 == 0, running.count > 2 {
                let victim = running.sorted()[Int(rng.next() % UInt64(running.count))]
                await cluster[victim].kill9()
                running.remove(victim)
            }
            let stopped = Set(ids).subtracting(running).sorted()
            if !stopped.isEmpty, rng.next() % 2 == 0 {
                let back = stopped[Int(rng.next() % UInt64(stopped.count))]
                try await cluster.start(back, dialing: dials[back] ?? [])
                running.insert(back)
            }
            try await Task.sleep(for: .milliseconds(Int(rng.next() % 200)))
        }
        for id in Set(ids).subtracting(running).sorted() { try await cluster.start(id, dialing: dials[id] ?? []) }
        let v = try await cluster.waitConverged(ids, minimum: acknowledged, timeout: .seconds(60))
        #expect(v.dominates(acknowledged), "seed \(seed)")
        var digests: Set<String> = []
        for id in ids { digests.insert(try await TestCluster.exportDigest(cluster[id])) }
        #expect(digests.count == 1, "seed \(seed): nodes hold different events")
    }
}

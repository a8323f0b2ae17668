import Foundation
import IncidentClient
import IncidentModel
import IncidentServer
import IncidentTestSupport
import Testing
import Wire

@Suite("Replication between nodes")
struct ReplicationTests {
    func append(_ node: some NodeUnderTest, _ markers: [String], sector: String = "east") async throws {
        _ = try await IncidentConnection.withConnection(to: node.client) { c in
            try await c.request(Requests.append(eventObjects: markers.map { Fixtures.incident($0, sector: sector) }))
        }
    }

    /// A line A–B–C: B relays, so appends on A reach C and appends on C reach A.
    @Test func lineTopologyRelaysBothWays() async throws {
        try await withNodes(["b", "a", "c"], dialing: ["a": ["b"], "c": ["b"]]) { nodes in
            let (b, a, c) = (nodes[0], nodes[1], nodes[2])
            try await append(a, ["from-a-1", "from-a-2"])
            try await append(c, ["from-c-1"])
            let v = try await TestCluster.waitConverged([a, b, c], minimum: VersionVector(["a": 2, "c": 1]))
            #expect(v == VersionVector(["a": 2, "c": 1]))
            let digests = try await [a, b, c].asyncMap { try await TestCluster.exportDigest($0) }
            #expect(Set(digests).count == 1)
        }
    }

    /// A ring a–b–c–d–a: every event arrives twice at some node, and is stored once.
    @Test func ringConverges() async throws {
        try await withNodes(["a", "b", "c", "d"], dialing: ["b": ["a"], "c": ["b"], "d": ["c", "a"]]) { nodes in
            for node in nodes { try await append(node, (0..<10).map { "\(node.nodeID)-\($0)" }) }
            let v = try await TestCluster.waitConverged(nodes, minimum: VersionVector(["a": 10, "b": 10, "c": 10, "d": 10]))
            #expect(v == VersionVector(["a": 10, "b": 10, "c": 10, "d": 10]))
            var digests: Set<String> = []
            for node in nodes { digests.insert(try await TestCluster.exportDigest(node)) }
            #expect(digests.count == 1)
        }
    }

    /// Stop the relay, append on both ends, restart it: everything converges, and the restarted
    /// node is not sent more than it lacks.
    @Test func nodesConvergeAfterPartition() async throws {
        let cluster = try await TestCluster(ids: ["a", "b", "c"])
        defer { cluster.removeFiles() }
        try await cluster.start("b")
        try await cluster.start("a", dialing: ["b"])
        try await cluster.start("c", dialing: ["b"])
        try await append(cluster["a"], ["before-1"])
        _ = try await cluster.waitConverged(["a", "b", "c"], minimum: VersionVector(["a": 1]))
        await #expect(cluster["b"].stop() == 0)
        try await append(cluster["a"], (0..<50).map { "during-a-\($0)" })
        try await append(cluster["c"], (0..<30).map { "during-c-\($0)" }, sector: "west")
        try await cluster.start("b")
        let v = try await cluster.waitConverged(["a", "b", "c"], minimum: VersionVector(["a": 51, "c": 30]))
        #expect(v == VersionVector(["a": 51, "c": 30]))
        let digests = try await [cluster["a"], cluster["b"], cluster["c"]].asyncMap { try await TestCluster.exportDigest($0) }
        #expect(Set(digests).count == 1)
        // b held a:1 before; after restart it received exactly the 50 + 30 it lacked.
        let status = try await IncidentConnection.withConnection(to: cluster["b"].client) { try await $0.request(Requests.status) }
        let received = status["peers"]?.arrayValue?.reduce(Int64(0)) { $0 + ($1["events_received"]?.integerValue ?? 0) }
        #expect(received == 80)
    }

    /// A node with no link gets everything from a bundle; ingesting it twice changes nothing.
    @Test func bundleConvergesAnIsolatedNodeAndIsIdempotent() async throws {
        // No dialing: neither node has a link to the other.
        try await withNodes(["gao", "kidal"], dialing: [:]) { nodes in
            let (gao, kidal) = (nodes[0], nodes[1])
            try await append(gao, (0..<25).map { "convoy-\($0)" })
            try await append(gao, ["convoy-last"])
            let bundle = gao.dataDir + ".bundle"
            defer { try? FileManager.default.removeItem(atPath: bundle) }
            try await Incidentctl.run(["export", "--node", gao.client.description, "--bundle", bundle])
            let first = try await Incidentctl.run(["ingest", "--node", kidal.client.description, bundle])
            #expect(first.contains("new 26  duplicate 0  refused 0"), "\(first)")
            let second = try await Incidentctl.run(["ingest", "--node", kidal.client.description, bundle])
            #expect(second.contains("new 0  duplicate 26  refused 0"), "\(second)")
            #expect(try await TestCluster.vector(kidal) == VersionVector(["gao": 26]))
            #expect(try await TestCluster.exportDigest(kidal) == TestCluster.exportDigest(gao))
        }
    }

    /// A peer whose key is not in the trust list is refused with untrusted_peer; nothing replicates.
    @Test func untrustedPeerIsRefused() async throws {
        try await withNodes(["a"]) { nodes in
            let a = nodes[0]
            let arguments = ["--fsync", "never", "--peer", a.peer!.description, "--trust", "a=\(try IncidentNode.publicKey(a.config))"]
            try await withInProcessNode(nodeID: "stranger", arguments: arguments) { stranger in
                try await append(stranger, ["should-not-cross"])
                try await Task.sleep(for: .seconds(1))
                #expect(try await TestCluster.vector(a) == VersionVector())
                #expect(a.log.contains("untrusted_peer"))
                #expect(stranger.log.contains("untrusted_peer"))
            }
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await transform(e)) }
        return out
    }
}

/// Runs the real incidentctl beside incidentd; returns stdout, throws with stderr on failure.
enum Incidentctl {
    @discardableResult
    static func run(_ arguments: [String]) async throws -> String {
        let result = try await Security.run(
            executable: URL(fileURLWithPath: TestNode.binaryPath).deletingLastPathComponent().appendingPathComponent("incidentctl").path, arguments)
        guard result.status == 0 else {
            throw Fixtures.Problem("incidentctl \(arguments.joined(separator: " ")) failed: \(result.stderr)")
        }
        return result.stdout
    }
}

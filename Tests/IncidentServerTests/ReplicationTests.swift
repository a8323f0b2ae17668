import Foundation
import IncidentClient
import IncidentModel
import IncidentServer
import IncidentTestSupport
import NIOCore
import NIOPosix
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
    /// node is not sent more than it lacks. In the test's process: b listens on a port taken for
    /// it beforehand, a and c dial it there through both of b's runs (dialing again after b's
    /// stop), and b's restart is another run on its directory and that port.
    @Test func nodesConvergeAfterPartition() async throws {
        let ids = ["a", "b", "c"]
        let dirs = ids.map { TestNode.temporaryDirectory(prefix: "incidentd-\($0)") }
        defer { for dir in dirs { try? FileManager.default.removeItem(atPath: dir) } }
        let relay = HostPort(host: "127.0.0.1", port: try await Self.freePort())
        var configs = try zip(ids, dirs).map { id, dir in try inProcessConfig(nodeID: id, dataDir: dir, arguments: ["--fsync", "never"]) }
        for i in configs.indices {
            let key = try IncidentNode.publicKey(configs[i])
            for j in configs.indices where j != i { configs[j].trust[ids[i]] = key }
        }
        configs[0].peers = [relay]
        configs[1].peerListen = relay
        configs[2].peers = [relay]
        let (a, b, c) = (configs[0], configs[1], configs[2])
        try await withNode(config: a) { a in
            try await withNode(config: c) { c in
                try await Self.run(b) { b in
                    try await append(a, ["before-1"])
                    _ = try await TestCluster.waitConverged([a, b, c], minimum: VersionVector(["a": 1]))
                }
                try await append(a, (0..<50).map { "during-a-\($0)" })
                try await append(c, (0..<30).map { "during-c-\($0)" }, sector: "west")
                try await Self.run(b) { b in
                    let v = try await TestCluster.waitConverged([a, b, c], minimum: VersionVector(["a": 51, "c": 30]))
                    #expect(v == VersionVector(["a": 51, "c": 30]))
                    let digests = try await [a, b, c].asyncMap { try await TestCluster.exportDigest($0) }
                    #expect(Set(digests).count == 1)
                    // b held a:1 before; after its restart it received exactly the 50 + 30 it lacked.
                    let status = try await IncidentConnection.withConnection(to: b.client) { try await $0.request(Requests.status) }
                    let received = status["peers"]?.arrayValue?.reduce(Int64(0)) { $0 + ($1["events_received"]?.integerValue ?? 0) }
                    #expect(received == 80)
                }
            }
        }
    }

    /// The relay's run tries again while another socket holds its port for a moment: held here by
    /// a listener closed 0.8 s after the first refusal, the run starts once it is free.
    @Test func aRelayRunWhosePortIsHeldForAMomentStartsOnceItIsFree() async throws {
        let dir = TestNode.temporaryDirectory(prefix: "incidentd-b")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let holder = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        var config = try inProcessConfig(nodeID: "b", dataDir: dir, arguments: ["--fsync", "never"])
        config.peerListen = HostPort(host: "127.0.0.1", port: holder.localAddress?.port ?? 0)
        let release = Task {
            try await Task.sleep(for: .milliseconds(800))
            try await holder.close()
        }
        var ran = false
        try await Self.run(config) { b in
            ran = true
            #expect(b.peer == config.peerListen)
        }
        #expect(ran)
        try await release.value
    }

    /// A port free on 127.0.0.1 a moment ago (bound to port 0, then closed).
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }

    /// Runs the relay on its fixed port. Another socket of the test process may hold that port
    /// for a moment (an outgoing connection's local port comes from the same range): a run
    /// refused with "address already in use" before it started is tried again, 10 times, 300
    /// ms apart, as `TestNode.start` does for a restart.
    static func run(_ config: NodeConfig, _ body: (InProcessNode) async throws -> Void) async throws {
        var attempt = 1
        while true {
            var started = false
            do {
                return try await withNode(config: config) { node in
                    started = true
                    try await body(node)
                }
            } catch  where !started && attempt < 10 && "\(error)".contains("address already in use") {
                attempt += 1
                try await Task.sleep(for: .milliseconds(300))
            }
        }
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

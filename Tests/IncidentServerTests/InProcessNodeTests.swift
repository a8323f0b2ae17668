import Foundation
import IncidentBench
import IncidentClient
import IncidentModel
import IncidentServer
import IncidentTestSupport
import Testing
import Wire

/// The in-process harness (`withNode`): a node built from a config in the test's process,
/// on port 0, ready when the body runs, stopped and its directory removed afterwards.
@Suite("In-process node harness")
struct InProcessNodeTests {
    struct Planned: Error {}

    /// Whether node `id` answers at `address`: a client listener's status names its node, and so
    /// does the hello a peer listener sends first. Other tests bind port 0 all the time and may
    /// be given a stopped node's port again, so a connection that is not refused does not show
    /// that the node still runs; one that this node answers does.
    static func answers(as id: String, at address: HostPort) async -> Bool {
        do {
            // The first line read: a status answer, or a peer listener's hello.
            let line = try await IncidentConnection.withConnection(to: address) { connection in
                try await connection.send(Requests.status)
                return try await connection.receive()
            }
            return try JSONParser.parse(line)["node"] == .string(id)
        } catch {
            return false
        }
    }

    /// An id of its own for a test's node, so that no other test's node answers for it.
    static func uniqueID() -> String {
        var random = SystemRandomNumberGenerator()
        return "gao-" + String(random.next() & 0xFFFF_FFFF, radix: 16)
    }

    @Test func portZeroGivesTheBoundPortsAndEverythingStopsAfterwards() async throws {
        let id = Self.uniqueID()
        let seen = try await withNode(nodeID: id) { node, client in
            #expect(node.client.port != 0)
            #expect(try #require(node.peer).port != 0)
            let r = try await client.request(Requests.append(eventObjects: [Fixtures.incident("p1")]))
            #expect(r["ids"] == .array([.string("\(id):1")]))
            #expect(FileManager.default.fileExists(atPath: node.dataDir + "/node_id"))
            #expect(node.log.contains("node ready"))
            #expect(await Self.answers(as: id, at: node.client))
            #expect(await Self.answers(as: id, at: node.peer!))
            return (node.client, node.peer!, node.dataDir)
        }
        #expect(await !Self.answers(as: id, at: seen.0))
        #expect(await !Self.answers(as: id, at: seen.1))
        #expect(!FileManager.default.fileExists(atPath: seen.2))
    }

    @Test func aBodyThatThrowsStillStopsTheNode() async throws {
        let id = Self.uniqueID()
        let seen = Shared<HostPort?>(nil)
        await #expect(throws: Planned.self) {
            try await withNode(nodeID: id) { node, _ in
                #expect(await Self.answers(as: id, at: node.client))
                seen.withLock { $0 = node.client }
                throw Planned()
            }
        }
        #expect(await !Self.answers(as: id, at: try #require(seen.withLock { $0 })))
    }

    /// A node that cannot start throws its own error instead of leaving the harness waiting.
    @Test func aNodeThatCannotStartThrowsItsError() async throws {
        let dir = TestNode.temporaryDirectory(prefix: "owned")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("other\n".utf8).write(to: URL(fileURLWithPath: dir + "/node_id"))
        var config = NodeConfig()
        config.nodeID = "gao"
        config.dataDir = dir
        config.listen = HostPort(host: "127.0.0.1", port: 0)
        config.peerListen = nil
        await #expect(throws: NodeConfig.Failure.self) {
            try await withNode(config: config) { _ in Issue.record("the node started on a directory of another node") }
        }
    }

    /// Hooks are injected, not read from the environment: 4 KiB segments give several files.
    @Test func testHooksReachTheStore() async throws {
        try await withNode(nodeID: "seg", arguments: ["--fsync", "never"], hooks: TestHooks(segmentBytes: 4096)) { node, client in
            var generator = EventGenerator(seed: 7)
            for _ in 0..<4 {
                _ = try await client.request(Requests.append(eventObjects: (0..<10).map { _ in generator.nextObject() }))
            }
            let segments = try FileManager.default.contentsOfDirectory(atPath: node.dataDir + "/segments").filter { $0.hasSuffix(".jsonl") }
            #expect(segments.count > 2, "\(segments)")
            #expect(node.log.contains("TEST HOOK: segments are sealed at a test size"))
        }
    }
}

/// `withNodes`: in-process nodes that trust and dial each other by their bound peer addresses.
@Suite("In-process nodes in sync")
struct InProcessSyncTests {
    @Test func eventsAppendedOnEachNodeReachTheOthers() async throws {
        try await withNodes(["a", "b", "c"]) { nodes in
            for node in nodes {
                _ = try await IncidentConnection.withConnection(to: node.client) {
                    try await $0.request(Requests.append(eventObjects: [Fixtures.incident("on-\(node.nodeID)")]))
                }
            }
            let all = VersionVector(["a": 1, "b": 1, "c": 1])
            let deadline = ContinuousClock.now + .seconds(30)
            var vectors: [VersionVector] = []
            repeat {
                vectors = []
                for node in nodes {
                    let status = try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
                    vectors.append(status["vector"].flatMap(VersionVector.init(json:)) ?? VersionVector())
                }
                if vectors.allSatisfy({ $0 == all }) { break }
                try await Task.sleep(for: .milliseconds(50))
            } while ContinuousClock.now < deadline
            #expect(vectors.allSatisfy { $0 == all }, "\(vectors)")
        }
    }
}

import Crypto
import Foundation
import IncidentClient
public import IncidentModel
import Wire

/// Several real nodes that trust each other, for replication tests. Each node's key is created
/// before any node starts, so every node gets the whole trust list on its command line.
public final class TestCluster: @unchecked Sendable {
    public let nodes: [TestNode]
    public let keys: [String: String]

    /// - Parameter ids: node ids, e.g. ["a", "b", "c"].
    public init(ids: [String], extraArguments: [String] = ["--fsync", "never"]) async throws {
        var nodes: [TestNode] = []
        var keys: [String: String] = [:]
        for id in ids {
            let node = TestNode(nodeID: id, extraArguments: extraArguments)
            keys[id] = try await node.publicKey()
            nodes.append(node)
        }
        let trust = keys.sorted { $0.key < $1.key }.flatMap { ["--trust", "\($0.key)=\($0.value)"] }
        self.nodes = nodes.map { TestNode(nodeID: $0.nodeID, dataDir: $0.dataDir, extraArguments: extraArguments + trust) }
        self.keys = keys
    }

    public subscript(id: String) -> TestNode { nodes.first { $0.nodeID == id }! }

    /// Starts `id` dialing the peer listeners of `dialing` (which must have started once).
    public func start(_ id: String, dialing: [String] = []) async throws {
        let node = self[id]
        node.nextStartArguments = dialing.flatMap { ["--peer", self[$0].peer!.description] }
        try await node.start()
    }

    public func stopAll() async {
        for n in nodes { await n.stop() }
    }

    /// Kills every node (without waiting, as `TestNode.discard`) and removes its files.
    public func removeFiles() {
        for n in nodes { n.discard() }
    }

    /// The node's version vector.
    public static func vector(_ node: some NodeUnderTest) async throws -> VersionVector {
        let status = try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
        return status["vector"].flatMap(VersionVector.init(json:)) ?? VersionVector()
    }

    /// Waits until every running node in `ids` has the same vector, at least `minimum`; throws on timeout.
    public func waitConverged(_ ids: [String], minimum: VersionVector = VersionVector(), timeout: Duration = .seconds(30)) async throws -> VersionVector {
        try await Self.waitConverged(ids.map { self[$0] }, minimum: minimum, timeout: timeout)
    }

    /// Waits until every node in `nodes` (of either kind) has the same vector, at least `minimum`; throws on timeout.
    public static func waitConverged(
        _ nodes: [any NodeUnderTest], minimum: VersionVector = VersionVector(), timeout: Duration = .seconds(30)
    ) async throws -> VersionVector {
        let ids = nodes.map(\.nodeID)
        let deadline = ContinuousClock.now + timeout
        var last: [String: VersionVector] = [:]
        while ContinuousClock.now < deadline {
            for node in nodes { last[node.nodeID] = try await vector(node) }
            let first = last[ids[0]]!
            if last.values.allSatisfy({ $0 == first }) && first.dominates(minimum) { return first }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestNode.Failure(description: "not converged within \(timeout): \(last.sorted { $0.key < $1.key })")
    }

    /// SHA-256 (hex) of the node's exported lines, sorted: equal on nodes that hold the same events.
    public static func exportDigest(_ node: some NodeUnderTest) async throws -> String {
        let lines = try await IncidentConnection.withConnection(to: node.client) { try await $0.storedLines() }
        let sorted = lines.map { String(decoding: $0, as: UTF8.self) }.sorted().joined(separator: "\n")
        return Digest.sha256Hex(Array(sorted.utf8))
    }
}

enum Digest {
    static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}

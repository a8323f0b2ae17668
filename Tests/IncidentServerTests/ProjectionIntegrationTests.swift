import Foundation
import IncidentBench
import IncidentClient
import IncidentModel
import IncidentServer
import IncidentTestSupport
import Testing
import Wire

@Suite("Projections on nodes")
struct ProjectionIntegrationTests {
    /// The view without its query-time members (as_of, ages): what must be identical across nodes.
    static func view(_ node: some NodeUnderTest, _ request: String) async throws -> String {
        let line = try await IncidentConnection.withConnection(to: node.client) { c in
            try await c.send(Array(request.utf8))
            return try await c.receive()
        }
        let prefix = Array("{\"ok\":true,\"view\":".utf8)
        #expect(line.starts(with: prefix), "\(String(decoding: line, as: UTF8.self))")
        let end = try line.withUnsafeBufferPointer { try JSONParser.skipValue(in: $0, from: prefix.count) }
        return String(decoding: line[prefix.count..<end], as: UTF8.self)
    }

    static func appendGenerated(_ node: some NodeUnderTest, seed: UInt64, count: Int) async throws {
        var generator = EventGenerator(seed: seed)
        _ = try await IncidentConnection.withConnection(to: node.client) { c in
            for _ in 0..<(count / 20) {
                _ = try await c.request(Requests.append(eventObjects: (0..<20).map { _ in generator.nextObject() }))
            }
        }
    }

    static func status(_ node: some NodeUnderTest) async throws -> JSONValue {
        try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
    }

    /// Waits until the node holds `events` events and its views have folded every one (views
    /// follow the log asynchronously: an append is answered once stored, not once folded);
    /// returns the last status.
    static func waitFolded(_ node: some NodeUnderTest, _ events: Int) async throws -> JSONValue {
        var last: JSONValue = .null
        try await Security.wait("all \(events) events folded", timeout: .seconds(30)) {
            last = try await status(node)
            return last["events"]?.integerValue == Int64(events) && last["projections"]?["folded"]?.integerValue == Int64(events)
        }
        return last
    }

    /// a and c each append their own events, then replicate both ways: a folds a's then c's, c
    /// folds c's then a's. Their sector and overview views are byte-identical.
    @Test func nodesWithTheSameEventsInDifferentOrdersShowIdenticalViews() async throws {
        let dirs = ["a", "c"].map { TestNode.temporaryDirectory(prefix: "incidentd-\($0)") }
        defer { dirs.forEach { try? FileManager.default.removeItem(atPath: $0) } }
        var a = try inProcessConfig(nodeID: "a", dataDir: dirs[0], arguments: ["--fsync", "never"])
        var c = try inProcessConfig(nodeID: "c", dataDir: dirs[1], arguments: ["--fsync", "never"])
        a.trust["c"] = try IncidentNode.publicKey(c)
        c.trust["a"] = try IncidentNode.publicKey(a)
        try await withNode(config: c) { nodeC in
            try await withNode(config: a) { nodeA in
                try await Self.appendGenerated(nodeA, seed: 7, count: 200)
                try await Self.appendGenerated(nodeC, seed: 8, count: 200)
            }
            // a again, on its directory, now dialing c.
            var dialing = a
            dialing.peers = [try #require(nodeC.peer)]
            try await withNode(config: dialing) { nodeA in
                let nodes = ["a": nodeA, "c": nodeC]
                _ = try await TestCluster.waitConverged([nodeA, nodeC], minimum: VersionVector(["a": 200, "c": 200]))
                for id in ["a", "c"] { _ = try await Self.waitFolded(nodes[id]!, 400) }
                for request in [
                    #"{"op":"overview"}"#, #"{"op":"sector","sector":"east"}"#, #"{"op":"sector","sector":"north","since":"2025-12-01"}"#,
                    #"{"op":"incidents","limit":500}"#,
                ] {
                    let a = try await Self.view(nodeA, request)
                    let c = try await Self.view(nodeC, request)
                    #expect(a == c, "\(request) differs")
                }
                let overview = try JSONParser.parse(Array(try await Self.view(nodeA, #"{"op":"overview"}"#).utf8))
                #expect((overview["mission"]?["incidents"]?["total"]?.integerValue ?? 0) > 50)
            }
        }
    }

    /// A restart loads the snapshot and folds only the events stored after it; a corrupt
    /// snapshot is discarded and the views rebuilt from the log, with the same result.
    @Test func restartFoldsOnlyNewerEventsAndCorruptSnapshotIsRebuilt() async throws {
        let node = TestNode(nodeID: "snap", extraArguments: ["--fsync", "never"])
        defer {
            node.discard()
        }
        try await node.start()
        try await Self.appendGenerated(node, seed: 3, count: 60)
        await #expect(node.stop() == 0)  // graceful: writes the snapshot (60 events)
        try await node.start()
        try await Self.appendGenerated(node, seed: 4, count: 40)
        // The views of all 100 events, not of those folded when the last append was answered.
        _ = try await Self.waitFolded(node, 100)
        let before = try await Self.view(node, #"{"op":"overview"}"#)
        await node.kill9()  // no snapshot for these 40
        try await node.start()
        let s = try await Self.status(node)
        #expect(s["projections"]?["from_snapshot"] == .bool(true))
        #expect(s["projections"]?["folded_since_start"]?.integerValue == 40)
        #expect(try await Self.view(node, #"{"op":"overview"}"#) == before)
        await node.kill9()

        // Flip one byte of the snapshot's payload: its checksum fails, the views are rebuilt.
        let path = node.dataDir + "/projections.snapshot"
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[bytes.count - 10] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        try await node.start()
        let rebuilt = try await Self.status(node)
        #expect(rebuilt["projections"]?["from_snapshot"] == .bool(false))
        #expect(rebuilt["projections"]?["folded_since_start"]?.integerValue == 100)
        #expect(try await Self.view(node, #"{"op":"overview"}"#) == before)
        #expect(node.log.contains("projection snapshot unusable"))
    }

    @Test func badQueriesGetStableCodes() async throws {
        try await withInProcessNode { node in
            try await IncidentConnection.withConnection(to: node.client) { c in
                for (request, code) in [
                    (#"{"op":"sector","sector":"atlantis"}"#, "not_found"), (#"{"op":"sector"}"#, "invalid_request"),
                    (#"{"op":"overview","since":"yesterday"}"#, "invalid_query"), (#"{"op":"incident","id":"nope"}"#, "not_found"),
                    (#"{"op":"incidents","category":"alien"}"#, "invalid_query"), (#"{"op":"incidents","limit":0}"#, "invalid_query"),
                ] {
                    try await c.send(Array(request.utf8))
                    let r = try JSONParser.parse(try await c.receive())
                    #expect(r["error"]?["code"]?.stringValue == code, "\(request)")
                }
            }
        }
    }
}

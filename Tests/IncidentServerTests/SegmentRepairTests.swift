import Foundation
import IncidentBench
import IncidentClient
import IncidentModel
import IncidentServer
import IncidentTestSupport
import Testing
import Wire

/// A bit flipped in a sealed segment: the node starts anyway, names the damage, serves and takes
/// appends, and gets the hidden event back from a peer or a bundle, after which the segment
/// verifies again; its own events that no peer holds are reported lost.
///
/// The nodes run in the test's process; a stop is the end of a `run`, which throws if the node
/// did not shut down cleanly, and a restart is another `run` on the same config and directory.
@Suite("Damaged sealed segments repaired")
struct SegmentRepairTests {
    /// Segments of 4 KiB: a few events each, so every test has several sealed ones.
    static let hooks = TestHooks(segmentBytes: 4096)

    /// The configs of nodes a and b (loopback, port 0, `--fsync never`), which trust each other,
    /// each with a fresh directory, removed after `body`.
    static func withConfigs(_ body: (_ a: NodeConfig, _ b: NodeConfig) async throws -> Void) async throws {
        let dirs = ["a", "b"].map { TestNode.temporaryDirectory(prefix: "incidentd-\($0)") }
        defer { for dir in dirs { try? FileManager.default.removeItem(atPath: dir) } }
        var a = try inProcessConfig(nodeID: "a", dataDir: dirs[0], arguments: ["--fsync", "never"])
        var b = try inProcessConfig(nodeID: "b", dataDir: dirs[1], arguments: ["--fsync", "never"])
        a.trust["b"] = try IncidentNode.publicKey(b)
        b.trust["a"] = try IncidentNode.publicKey(a)
        try await body(a, b)
    }

    /// Runs the node of `config`, dialing the peer listeners of `dialing`, until `body` returns.
    static func run<R: Sendable>(_ config: NodeConfig, dialing: [InProcessNode] = [], _ body: (InProcessNode) async throws -> R) async throws -> R {
        var config = config
        config.peers = dialing.compactMap(\.peer)
        return try await withNode(config: config, hooks: hooks, body)
    }

    static func status(_ node: some NodeUnderTest) async throws -> JSONValue {
        try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
    }

    /// The raw answer to one request line.
    static func ask(_ node: some NodeUnderTest, _ request: String) async throws -> JSONValue {
        let line = try await IncidentConnection.withConnection(to: node.client) { c in
            try await c.send(Array(request.utf8))
            return try await c.receive()
        }
        return try JSONParser.parse(line)
    }

    static func append(_ node: some NodeUnderTest, count: Int, seed: UInt64) async throws {
        var generator = EventGenerator(seed: seed)
        _ = try await IncidentConnection.withConnection(to: node.client) { c in
            for _ in 0..<(count / 10) {
                _ = try await c.request(Requests.append(eventObjects: (0..<10).map { _ in generator.nextObject() }))
            }
        }
    }

    /// Appends `count` generated events to each of a and b (`seeds`: a's, b's), and waits until
    /// both hold all of them.
    static func appendConverged(_ a: InProcessNode, _ b: InProcessNode, count: Int, seeds: (UInt64, UInt64)) async throws {
        try await append(a, count: count, seed: seeds.0)
        try await append(b, count: count, seed: seeds.1)
        _ = try await TestCluster.waitConverged([a, b], minimum: VersionVector(["a": UInt64(count), "b": UInt64(count)]))
    }

    static func segmentNames(_ dataDir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dataDir + "/segments")) ?? []).filter { $0.hasSuffix(".jsonl") }.sorted()
    }

    /// Flips one bit in the payload of the first event that `pick` accepts and that lies in a
    /// sealed segment of the stopped node of `config`; gives the segment's name and the event as
    /// it was.
    static func damage(_ config: NodeConfig, pick: (Event) -> Bool) throws -> (segment: String, event: Event) {
        for name in segmentNames(config.dataDir).dropLast() {
            let path = config.dataDir + "/segments/" + name
            var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            var start = 0
            for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") {
                let event = try Event.parse(line: Array(bytes[start..<i]))
                if pick(event) {
                    bytes[start + event.dataRange.lowerBound + 12] ^= 0x01
                    try Data(bytes).write(to: URL(fileURLWithPath: path))
                    return (name, event)
                }
                start = i + 1
            }
        }
        throw Fixtures.Problem("no event to damage in a sealed segment of \(config.nodeID)")
    }

    /// Waits until `condition` holds of the node's status, at most `timeout`.
    static func waitStatus(_ node: some NodeUnderTest, _ what: String, timeout: Duration = .seconds(30), _ condition: (JSONValue) -> Bool) async throws -> JSONValue {
        let deadline = ContinuousClock.now + timeout
        var last = try await status(node)
        while !condition(last) {
            guard ContinuousClock.now < deadline else { throw Fixtures.Problem("\(what) not within \(timeout); status: \(last.text)") }
            try await Task.sleep(for: .milliseconds(100))
            last = try await status(node)
        }
        return last
    }

    static func views(_ node: some NodeUnderTest) async throws -> [String] {
        var out: [String] = []
        for request in [#"{"op":"overview"}"#, #"{"op":"sector","sector":"east"}"#, #"{"op":"sector","sector":"north"}"#] {
            out.append(try await ProjectionIntegrationTests.view(node, request))
        }
        return out
    }

    /// Waits until the node's views are `expected`, at most 10 s.
    static func waitViews(_ node: some NodeUnderTest, equal expected: [String]) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        var last = try await views(node)
        while last != expected {
            guard ContinuousClock.now < deadline else {
                Issue.record("views of \(node.nodeID) differ:\n\(last.joined(separator: "\n"))\nexpected:\n\(expected.joined(separator: "\n"))")
                return
            }
            try await Task.sleep(for: .milliseconds(50))
            last = try await views(node)
        }
    }

    /// The line of `id` as the node stores it, from its segment files (not through the node).
    static func storedLine(_ node: some NodeUnderTest, _ id: String) throws -> [UInt8]? {
        for name in segmentNames(node.dataDir) {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: node.dataDir + "/segments/" + name)))
            for line in bytes.split(separator: UInt8(ascii: "\n")) where (try? Event.parse(line: Array(line)))?.id == id { return Array(line) }
        }
        return nil
    }

    /// b is down while a bit of one of a's events in b's log flips. b starts, names the damage,
    /// answers reads without the event and takes an append; when a comes back, b gets the
    /// event from it, the segment verifies again, and b's views are a's.
    @Test func flippedBitInASealedSegmentIsRepairedFromAPeer() async throws {
        try await Self.withConfigs { aConfig, bConfig in
            try await Self.run(bConfig) { b in
                try await Self.run(aConfig, dialing: [b]) { a in
                    try await Self.appendConverged(a, b, count: 40, seeds: (14, 15))
                }
            }
            let (segment, event) = try Self.damage(bConfig) { $0.origin == "a" && $0.seq > 3 }

            let viewsOfA = try await Self.run(bConfig) { b in
                let damaged = try await Self.status(b)
                let entry = damaged["damage"]?["segments"]?.arrayValue?.first
                #expect(entry?["segment"]?.stringValue == segment, "\(damaged.text)")
                #expect(entry?["state"]?.stringValue == "damaged")
                #expect(entry?["missing"]?.arrayValue?.compactMap(\.stringValue) == [event.id])
                #expect(damaged["vector"]?["a"]?.integerValue == Int64(event.seq - 1))
                #expect(b.log.contains("sealed segment damaged"))
                #expect(try await Self.ask(b, #"{"op":"get","id":"\#(event.id)"}"#)["error"]?["code"]?.stringValue == "not_found")
                let served = try await Fixtures.export(b.client)
                #expect(served.count == 79 && !served.contains(event.line))
                try await Self.append(b, count: 10, seed: 16)

                return try await Self.run(aConfig, dialing: [b]) { a in
                    let repaired = try await Self.waitStatus(b, "the repair") { s in
                        s["damage"]?["segments"]?.arrayValue?.first?["state"]?.stringValue == "repaired"
                    }
                    #expect(repaired["damage"]?["segments"]?.arrayValue?.first?["repaired"]?.integerValue == 1)
                    #expect(b.log.contains("damaged segment repaired: it verifies again"))
                    _ = try await TestCluster.waitConverged([a, b], minimum: VersionVector(["a": 40, "b": 50]))
                    // The segment holds the event exactly as a does.
                    #expect(try Self.storedLine(b, event.id) == event.line)
                    #expect(try Self.storedLine(a, event.id) == event.line)
                    _ = try Fixtures.verifyChains(try await Fixtures.export(b.client))
                    #expect(try await TestCluster.exportDigest(b) == TestCluster.exportDigest(a))
                    // The fold takes the repaired event a moment after the store wrote it back; a's
                    // views are read once a has folded everything.
                    _ = try await ProjectionIntegrationTests.waitFolded(a, 90)
                    try await Self.waitViews(b, equal: try await Self.views(a))
                    return try await Self.views(a)
                }
            }

            // A restart finds nothing damaged, and the views are still a's.
            try await Self.run(bConfig) { b in
                let clean = try await Self.status(b)
                #expect(clean["damage"] == nil, "\(clean.text)")
                #expect(try await Self.views(b) == viewsOfA)
            }
        }
    }

    /// No peer at all: a bundle exported from a before the damage brings the event back.
    @Test func flippedBitInASealedSegmentIsRepairedFromABundle() async throws {
        try await Self.withConfigs { aConfig, bConfig in
            let bundle = aConfig.dataDir + ".bundle"
            defer { try? FileManager.default.removeItem(atPath: bundle) }
            let (digest, views) = try await Self.run(bConfig) { b in
                try await Self.run(aConfig, dialing: [b]) { a in
                    try await Self.appendConverged(a, b, count: 30, seeds: (24, 25))
                    try await Incidentctl.run(["export", "--node", a.client.description, "--bundle", bundle])
                    _ = try await ProjectionIntegrationTests.waitFolded(a, 60)
                    return (try await TestCluster.exportDigest(a), try await Self.views(a))
                }
            }
            let (_, event) = try Self.damage(bConfig) { $0.origin == "b" && $0.seq > 3 }

            try await Self.run(bConfig) { b in
                let damaged = try await Self.status(b)
                #expect(damaged["damage"]?["segments"]?.arrayValue?.first?["missing"]?.arrayValue?.compactMap(\.stringValue) == [event.id])
                let ingested = try await Incidentctl.run(["ingest", "--node", b.client.description, bundle])
                #expect(ingested.contains("new 1  duplicate 59  refused 0"), "\(ingested)")
                let repaired = try await Self.status(b)
                #expect(repaired["damage"]?["segments"]?.arrayValue?.first?["state"]?.stringValue == "repaired", "\(repaired.text)")
                #expect(try Self.storedLine(b, event.id) == event.line)
                #expect(try await TestCluster.exportDigest(b) == digest)
                try await Self.waitViews(b, equal: views)
            }
            try await Self.run(bConfig) { b in
                let clean = try await Self.status(b)
                #expect(clean["damage"] == nil, "\(clean.text)")
            }
        }
    }

    /// b's own events that a never received, one of them damaged: once b has heard from a (its
    /// configured peer) that a lacks it, b reports it lost by id, and goes on taking appends.
    @Test func damagedOwnEventsNoPeerHoldsAreReportedLost() async throws {
        try await Self.withConfigs { aConfig, bConfig in
            // a dials b here (either end carries the session both ways), so that a can stop while
            // b goes on taking appends it never sends a.
            try await Self.run(bConfig) { b in
                try await Self.run(aConfig, dialing: [b]) { a in
                    try await Self.appendConverged(a, b, count: 10, seeds: (34, 35))
                }
                try await Self.append(b, count: 30, seed: 36)
            }
            let (_, event) = try Self.damage(bConfig) { $0.origin == "b" && $0.seq > 21 && $0.seq < 35 }

            try await Self.run(aConfig) { a in
                try await Self.run(bConfig, dialing: [a]) { b in
                    let lost = try await Self.waitStatus(b, "the lost report") { s in
                        s["damage"]?["lost"]?.arrayValue?.isEmpty == false
                    }
                    #expect(lost["damage"]?["lost"]?.arrayValue?.compactMap(\.stringValue) == [event.id], "\(lost.text)")
                    #expect(b.log.contains("own events lost"))
                    #expect(b.log.contains(event.id))
                    // b goes on: its chain continues after the newest.
                    let appended = try await IncidentConnection.withConnection(to: b.client) { c in
                        try await c.request(Requests.append(eventObjects: [Fixtures.incident("after-the-loss")]))
                    }
                    #expect(appended["ids"]?.arrayValue?.first?.stringValue == "b:41")
                    // A backup of b is refused before anything is written, naming the damage.
                    let dir = TestNode.temporaryDirectory(prefix: "backup-of-damaged")
                    defer { try? FileManager.default.removeItem(atPath: dir) }
                    let backup = try await Security.run("incidentctl", ["backup", "--node", b.client.description, dir])
                    #expect(backup.status != 0)
                    #expect(backup.stderr.contains("damaged segment(s) not yet repaired") && backup.stderr.contains(event.id), "\(backup.stderr)")
                    #expect((try? FileManager.default.contentsOfDirectory(atPath: dir))?.isEmpty ?? true, "nothing written into \(dir)")
                    // a takes b's events up to the last signed one before the lost event: the ones after that
                    // wait for a signature that only events after the gap carry (docs/STORAGE.md).
                    let held = try await Fixtures.export(b.client).map { try Event.parse(line: $0) }
                    let signed = held.filter { $0.origin == "b" && $0.seq < event.seq && $0.signature != nil }.map(\.seq).max() ?? 0
                    _ = try await Self.waitStatus(a, "a holding b's events up to the last signed one before the lost one") { s in
                        s["vector"]?["b"]?.integerValue == Int64(signed)
                    }
                    #expect(try await Self.status(b)["vector"]?["b"]?.integerValue == Int64(event.seq - 1))
                }
            }
        }
    }
}

extension JSONValue {
    /// The value as canonical JSON text, for messages.
    var text: String { String(decoding: canonicalBytes, as: UTF8.self) }
}

import CompressNIO
import Foundation
import IncidentBench
import IncidentClient
import IncidentModel
import IncidentServer
import IncidentTestSupport
import NIOCore
import Sync
import Testing
import Wire

/// The peer protocol's version 2 against what a version-1 node does, and a hostile compressed
/// stream, each against a whole node (the listener, the pipeline and the session together).
@Suite("Peer link: version 1 interop and compression bounds")
struct LinkInteropTests {
    let peer = NodeIdentity(privateKey: .init())

    var arguments: [String] { ["--fsync", "never", "--trust", "gao=\(peer.publicKeyBase64)"] }

    /// The node "hq", trusting gao, in the test's process; `body` gets it and its key.
    func withNode(_ body: (InProcessNode, String) async throws -> Void) async throws {
        try await withInProcessNode(nodeID: "hq", arguments: arguments) { node in
            try await body(node, try IncidentNode.publicKey(node.config))
        }
    }

    /// `withNode` as a real process, for the test that measures the node's RSS by pid.
    func withProcess(_ body: (TestNode, String) async throws -> Void) async throws {
        let node = TestNode(nodeID: "hq", extraArguments: arguments)
        defer {
            node.discard()
        }
        let key = try await node.publicKey()
        try await node.start()
        try await body(node, key)
    }

    /// Runs the handshake as "gao" with `configuration`; returns the node's hello line and the session.
    func handshake(
        _ c: IncidentConnection, nodeKey: String, configuration: PeerSession<ContinuousClock>.Configuration
    ) async throws -> ([UInt8], PeerSession<ContinuousClock>) {
        var trust = TrustList()
        trust.insert(node: "gao", key: peer.publicKey)
        trust.insert(node: "hq", key: NodeIdentity.publicKey(base64: nodeKey)!)
        // This peer reads the node's lines as text: it offers no compression, so the node never
        // compresses toward it (a loaded machine can make loopback look like a slow link). It may
        // still send compressed itself: the node accepts what it offered.
        var configuration = configuration
        configuration.compression = []
        var session = PeerSession(nodeID: "gao", identity: peer, trust: trust, configuration: configuration, clock: ContinuousClock())
        for case .send(let line) in session.start(vector: VersionVector()) { try await c.send(line) }
        var nodeHello: [UInt8] = []
        while session.state != .established {
            let line = try await c.receive()
            if nodeHello.isEmpty { nodeHello = line }
            for action in session.receive(line) {
                switch action {
                case .send(let l): try await c.send(l)
                case .close(_, let message): throw Fixtures.Problem("handshake failed: \(message)")
                default: break
                }
            }
        }
        return (nodeHello, session)
    }

    /// A node of today and a peer that speaks only version 1 (its hello as the first version
    /// wrote it: `version` 1, no `max_version`, no `compress`): the node syncs with it in
    /// `events` messages of whole stored lines, never `compress` or `fresh`, also for an event
    /// appended while its backlog drains; and it stores and acknowledges what the peer sends.
    @Test(.timeLimit(.minutes(2)))
    func aVersionOnePeerSyncsWithoutCompressionOrTheFreshLane() async throws {
        try await withNode { node, key in
            let backlog = 400
            var generator = EventGenerator(seed: 3)
            _ = try await IncidentConnection.withConnection(to: node.client) { c in
                try await c.request(Requests.append(eventObjects: (0..<backlog).map { _ in generator.nextObject() }))
            }
            var v1 = PeerSession<ContinuousClock>.Configuration()
            v1.maxVersion = 1
            try await IncidentConnection.withConnection(to: node.peer!, maximumLineLength: 16 << 20) { c in
                let (nodeHello, session) = try await handshake(c, nodeKey: key, configuration: v1)
                #expect(String(decoding: nodeHello, as: UTF8.self).contains("\"version\":1,"), "a version-1 node refuses any other version")
                #expect(session.version == 1)
                // What a version-1 node sends: its own event, in an `events` message.
                let own = Event.encode(
                    Event.Draft(
                        origin: "gao", seq: 1, prev: nil, hlc: HLCTimestamp(wallMillis: 1_764_374_400_000, counter: 0),
                        recordedAtMillis: 1_764_374_400_000, type: "incident.reported", sector: "east",
                        data: Array("{\"incident_id\":\"5b1f4a7e-0000-4000-8000-000000000001\",\"category\":\"ied\",\"summary\":\"v1\"}".utf8)),
                    signer: peer.privateKey)
                try await c.send(PeerMessage.events([own.line]).encoded)
                var received: [[UInt8]] = []
                var acked = false
                var appendedMidway = false
                while received.count < backlog + 1 || !acked {
                    let line = try await c.receive()
                    #expect(!line.starts(with: Array("{\"type\":\"compress\"".utf8)), "compress sent to a version-1 peer")
                    switch try PeerMessage.parse(line) {
                    case .events(let lines):
                        received += lines
                        try await c.send(PeerMessage.ack(VersionVector(["gao": 1, "hq": UInt64(received.count)])).encoded)
                        if !appendedMidway {
                            appendedMidway = true
                            _ = try await IncidentConnection.withConnection(to: node.client) { n in
                                try await n.request(Requests.append(eventObjects: [generator.nextMedevacRequestObject()]))
                            }
                        }
                    case .ack(let v): acked = v["gao"] == 1
                    case .ping: try await c.send(PeerMessage.pong.encoded)
                    case .fresh: Issue.record("a fresh message to a version-1 peer")
                    default: break
                    }
                }
                // Whole stored lines, in seq order: the backlog, then the event appended meanwhile.
                let seqs = try received.map { try Event.parse(line: $0) }.map(\.seq)
                #expect(seqs == Array(1...UInt64(backlog + 1)))
                #expect(received.allSatisfy { String(decoding: $0, as: UTF8.self).contains("\"id\":\"hq:") })
            }
            #expect(try await TestCluster.vector(node)["gao"] == 1)
        }
    }

    /// A peer that announces compression and then sends a deflate stream that inflates to 256 MiB
    /// without a newline: the node answers `line_too_long` once the line passes the 16 MiB limit,
    /// without inflating the rest, and its memory stays bounded.
    @Test(.timeLimit(.minutes(2)))
    func aCompressionBombEndsTheSessionInBoundedMemory() async throws {
        try await withProcess { node, key in
            let pid = node.process!.processIdentifier
            let before = try #require(Security.rssKiB(pid))
            let bomb = try Self.deflatedRun(of: UInt8(ascii: "a"), count: 256 << 20)
            #expect(bomb.count < 1 << 20, "\(bomb.count) bytes deflated")
            let (answer, peak): (String, Int) = try await Security.peakRSS(node) {
                try await IncidentConnection.withConnection(to: node.peer!, maximumLineLength: 16 << 20) { c in
                    _ = try await handshake(c, nodeKey: key, configuration: .init())
                    try await c.send(PeerMessage.compressMarker)
                    try await c.send(bomb)
                    while true {
                        let line = try await c.receive()
                        if case .error(let code, _) = try PeerMessage.parse(line) { return code }
                    }
                }
            }
            #expect(answer == "line_too_long")
            // The limit is 16 MiB of inflated line (its buffer may round up to 32 MiB); the
            // stream inflates to 256 MiB.
            #expect(peak - before < 80 << 10, "RSS grew by \((peak - before) >> 10) MiB")
            // The node goes on.
            #expect(try await TestCluster.vector(node) == VersionVector())
        }
    }

    /// A peer that announces compression and then sends bytes that are not a deflate stream.
    @Test(.timeLimit(.minutes(1)))
    func garbageAfterTheCompressLineIsInvalidCompression() async throws {
        try await withNode { node, key in
            try await IncidentConnection.withConnection(to: node.peer!) { c in
                _ = try await handshake(c, nodeKey: key, configuration: .init())
                try await c.send(PeerMessage.compressMarker)
                try await c.send([UInt8](repeating: 0xFF, count: 64) + [0x0A])
                var code: String? = nil
                while code == nil {
                    if case .error(let c2, _) = try PeerMessage.parse(try await c.receive()) { code = c2 }
                }
                #expect(code == "invalid_compression")
            }
        }
    }

    /// `count` bytes of `byte`, raw-deflated at the best level and sync-flushed, built 1 MiB at a
    /// time so the test itself stays small in memory.
    static func deflatedRun(of byte: UInt8, count: Int) throws -> [UInt8] {
        let compressor = try ZlibCompressor(algorithm: .deflate, configuration: ZlibConfiguration(compressionLevel: .bestCompression))
        let block = ByteBuffer(repeating: byte, count: 1 << 20)
        var out: [UInt8] = []
        var output = ByteBuffer()
        for i in 0..<(count >> 20) {
            var input = block
            while true {
                output.clear()
                output.reserveCapacity(64 << 10)
                do {
                    try compressor.deflate(from: &input, to: &output, flush: i == (count >> 20) - 1 ? .sync : .no)
                } catch let e as CompressNIOError where e == .bufferOverflow {
                    out += output.readableBytesView
                    continue
                }
                out += output.readableBytesView
                if input.readableBytes == 0 { break }
            }
        }
        return out
    }
}

/// `peer_max_bytes_per_second`: a node shares its link with voice and mail, so what it writes to
/// a peer stays under the cap, on the wire, even on loopback where the link itself is fast.
@Suite struct PeerRateCapTests {
    @Test(.timeLimit(.minutes(2)))
    func aCappedNodeSendsNoFasterThanItsCap() async throws {
        let cap = 40_000
        let config = TestNode.temporaryDirectory(prefix: "incidentd-cap") + ".json"
        try Data("{\"peer_max_bytes_per_second\": \(cap), \"peer_compression\": false}".utf8).write(to: URL(fileURLWithPath: config))
        defer { try? FileManager.default.removeItem(atPath: config) }
        let cluster = try await TestCluster(ids: ["a", "b"], extraArguments: ["--fsync", "never", "--config", config])
        defer { cluster.removeFiles() }
        try await cluster.start("a")
        var generator = EventGenerator(seed: 21)
        let events = 400  // about 230 KB: six seconds at the cap
        _ = try await IncidentConnection.withConnection(to: cluster["a"].client) { c in
            try await c.request(Requests.append(eventObjects: (0..<events).map { _ in generator.nextObject() }))
        }
        let started = ContinuousClock.now
        try await cluster.start("b", dialing: ["a"])
        _ = try await cluster.waitConverged(["a", "b"], minimum: VersionVector(["a": UInt64(events)]), timeout: .seconds(60))
        let elapsed = started.duration(to: .now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        try await Task.sleep(for: .milliseconds(600))  // the link figures are published every 250 ms
        let status = try await IncidentConnection.withConnection(to: cluster["a"].client) { try await $0.request(Requests.status) }
        let wire = try #require(status["peers"]?.arrayValue?.first?["link"]?["wire_bytes_sent"]?.integerValue)
        #expect(wire > 200_000, "\(wire) wire bytes")
        // One second's burst, then the cap (start-up of b included in the time, so this is generous
        // on the low side only by b's start).
        #expect(Double(wire) <= Double(cap) * (seconds + 1) * 1.05, "\(wire) bytes in \(seconds) s at a cap of \(cap)/s")
        #expect(seconds >= Double(wire) / Double(cap) - 1.5, "\(wire) bytes in \(seconds) s: faster than the cap")
    }
}

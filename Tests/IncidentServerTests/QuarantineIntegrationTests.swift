import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing
import Wire

/// A trusted origin's correctly signed events that fail validation, arriving in a bundle through
/// `ingest`: stored (the chain goes on), quarantined from the views, reported by `status`.
@Suite("Quarantine of invalid replicated events")
struct QuarantineIntegrationTests {
    static let casualties = #"{"civilians":{"killed":-500,"missing":0,"wounded":0},"incident_id":"a1","national_forces":{"killed":0,"missing":0,"wounded":0},"peacekeepers":{"killed":0,"missing":0,"wounded":0}}"#
    static func report(_ id: String) -> String {
        #"{"category":"ied","incident_id":"\#(id)","location":{"name":"RN16 km 12"},"occurred_at":"2026-11-28T06:40:00Z","summary":"IED on RN16"}"#
    }

    /// Signed events of `origin` continuing its chain; `chain` carries (seq, hash) between calls.
    static func events(
        _ specs: [(type: String, sector: String, data: String)], origin: String, signer: NodeIdentity,
        chain: inout (seq: UInt64, hash: EventHash?)
    ) -> [[UInt8]] {
        specs.map { spec in
            chain.seq += 1
            let draft = Event.Draft(
                origin: origin, seq: chain.seq, prev: chain.hash,
                hlc: HLCTimestamp(wallMillis: 1_764_374_400_000 + chain.seq, counter: 0),
                recordedAtMillis: 1_764_374_400_000, type: spec.type, sector: spec.sector, data: Array(spec.data.utf8))
            let e = Event.encode(draft, signer: signer.privateKey)
            chain.hash = e.hash
            return e.line
        }
    }

    static func overview(_ node: some NodeUnderTest) async throws -> JSONValue {
        try JSONParser.parse(Array(try await ProjectionIntegrationTests.view(node, #"{"op":"overview"}"#).utf8))
    }

    @Test func signedInvalidEventsAreStoredButQuarantined() async throws {
        let gao = NodeIdentity(privateKey: .init())
        // A real process: the test floods the node with 5,000 signed events in bundles, which the
        // node parses on Swift's pool (every core for a long line), verifies and folds; in the
        // test's process that work holds the pool's threads for seconds while the other server
        // tests wait.
        try await HTTP.withNode(arguments: ["--fsync", "never", "--trust", "gao=\(gao.publicKeyBase64)"]) { node in
            try await IncidentConnection.withConnection(to: node.client) { c in
                let r = try await c.request(Requests.append(eventObjects: [Fixtures.incident("a1"), Fixtures.incident("a2", sector: "north")]))
                #expect(r["ok"] == .bool(true), "\(r)")
            }
            _ = try await ProjectionIntegrationTests.waitFolded(node, 2)
            let before = try await Self.overview(node)

            var chain: (seq: UInt64, hash: EventHash?) = (0, nil)
            let bad = Self.events(
                [
                    ("incident.reported", "mars", Self.report("m1")), ("incident.reported", "", Self.report("m2")),
                    ("incident.teleported", "east", #"{"incident_id":"a1"}"#), ("casualties.reported", "east", Self.casualties),
                ], origin: "gao", signer: gao, chain: &chain)
            try await IncidentConnection.withConnection(to: node.client) { c in
                let answer = try await c.request(Requests.ingest(eventLines: bad))
                #expect(answer["new"]?.integerValue == 4, "\(answer)")
            }
            // Stored: the vector advances; the chain is whole.
            let status = try await ProjectionIntegrationTests.waitFolded(node, 6)
            #expect(status["vector"]?["gao"]?.integerValue == 4, "\(status)")
            // Quarantined: reported with ids and reasons, and kept out of every view.
            let p = try #require(status["projections"])
            #expect(p["quarantined"]?.integerValue == 4, "\(p)")
            let first = try #require(p["quarantined_first"]?.arrayValue)
            #expect(first.map { $0["id"]?.stringValue ?? "" } == ["gao:1", "gao:2", "gao:3", "gao:4"])
            #expect(first[0]["reason"]?.stringValue?.contains("unknown sector \"mars\"") == true)
            #expect(first[3]["reason"]?.stringValue == "data.civilians.killed: must not be negative")
            // And in the metrics.
            let metrics = String(decoding: try await HTTP.request(node, .GET, "/metrics").body, as: UTF8.self)
            #expect(metrics.split(separator: "\n").contains { $0.hasPrefix("incidentlog_quarantined_events 4") }, "\(metrics)")
            let after = try await Self.overview(node)
            let names = try #require(after["sectors"]?.arrayValue).map { $0["sector"]?.stringValue ?? "?" }
            #expect(names == Sectors.defaultList)
            #expect(after["sectors"] == before["sectors"])
            #expect(after["mission"] == before["mission"])
            #expect(node.log.contains("event quarantined"))
            #expect(node.log.contains("gao:4"))

            // 5,000 distinct unknown sectors: stored, quarantined, and the overview does not grow.
            let size = try await ProjectionIntegrationTests.view(node, #"{"op":"overview"}"#).utf8.count
            for bundle in 0..<10 {
                let lines = Self.events(
                    (0..<500).map { i in ("incident.reported", "s\(bundle * 500 + i)", Self.report("x\(bundle * 500 + i)")) },
                    origin: "gao", signer: gao, chain: &chain)
                try await IncidentConnection.withConnection(to: node.client) { c in
                    let answer = try await c.request(Requests.ingest(eventLines: lines))
                    #expect(answer["new"]?.integerValue == 500, "\(answer)")
                }
            }
            let flooded = try await ProjectionIntegrationTests.waitFolded(node, 5_006)
            #expect(flooded["projections"]?["quarantined"]?.integerValue == 5_004)
            let clock = ContinuousClock()
            let started = clock.now
            let grown = try await ProjectionIntegrationTests.view(node, #"{"op":"overview"}"#)
            print("overview after 5,000 unknown sectors: \(grown.utf8.count) bytes (\(size) before), answered in \(clock.now - started)")
            // Only gao's freshness (seq, hlc) moved: a few digits.
            #expect(grown.utf8.count <= size + 16, "overview \(grown.utf8.count) bytes, was \(size)")
            #expect(try await Self.overview(node)["sectors"] == before["sectors"])
            // The log names a few per batch, not all 5,000.
            let warnings = node.log.components(separatedBy: "event quarantined").count - 1
            #expect(warnings >= 8 && warnings < 1_000, "\(warnings) warnings")
            // `incidentctl status` says so.
            let text = try await Security.run("incidentctl", ["status", "--node", node.client.description])
            #expect(text.stdout.contains("quarantined 5004 stored event(s) kept out of the views"), "\(text.stdout)")
            #expect(text.stdout.contains("  gao:4  data.civilians.killed: must not be negative"), "\(text.stdout)")
        }
    }

    /// The same over the peer protocol: a trusted peer sends its own correctly signed events with
    /// sector "mars" and "", an unknown type and `killed: -500`; each is acknowledged and stored,
    /// and quarantined.
    @Test func aTrustedPeersInvalidEventsAreStoredButQuarantined() async throws {
        let peer = HostilePeerTests()
        try await peer.withNode { node, key in
            let before = try await Self.overview(node)
            var chain: (seq: UInt64, hash: EventHash?) = (0, nil)
            let bad = Self.events(
                [
                    ("incident.reported", "mars", Self.report("m1")), ("incident.reported", "", Self.report("m2")),
                    ("incident.teleported", "east", #"{"incident_id":"a1"}"#), ("casualties.reported", "east", Self.casualties),
                    ("incident.reported", "east", Self.report("ok1")),
                ], origin: "mallory", signer: peer.mallory, chain: &chain)
            try await peer.asMallory(node, nodeKey: key) { c in
                try await c.send(PeerMessage.events(bad).encoded)
                try await peer.awaitAck(c, origin: "mallory", seq: 5)
            }
            let status = try await ProjectionIntegrationTests.waitFolded(node, 5)
            #expect(status["vector"]?["mallory"]?.integerValue == 5, "\(status)")
            let p = try #require(status["projections"])
            #expect(p["quarantined"]?.integerValue == 4, "\(p)")
            #expect(p["quarantined_first"]?.arrayValue?.map { $0["id"]?.stringValue ?? "" } == ["mallory:1", "mallory:2", "mallory:3", "mallory:4"])
            let after = try await Self.overview(node)
            #expect(try #require(after["sectors"]?.arrayValue).map { $0["sector"]?.stringValue ?? "?" } == Sectors.defaultList)
            // Only the valid report counts.
            #expect(after["mission"]?["incidents"]?["total"]?.integerValue == 1, "\(after)")
            #expect(before["mission"]?["incidents"]?["total"]?.integerValue == 0)
        }
    }
}

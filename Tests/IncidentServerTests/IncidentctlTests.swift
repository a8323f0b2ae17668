import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing
import Wire

/// What a new user of incidentctl meets: where the connection options go, typos, a node that is
/// down, a peer port given for the client API, the event types, unknown sectors, the incident view.
@Suite struct IncidentctlTests {
    static let paths = [["status"], ["get"], ["sector"], ["incidents"], ["bench"], ["bench", "append"], ["bench", "query"]]

    @Test func connectionOptionsBeforeTheSubcommandMoveAfterIt() {
        func moved(_ a: [String]) -> [String] { IncidentctlArguments.movingLeadingConnectionOptions(a, paths: Self.paths) }
        #expect(moved(["--node", "h:1", "status"]) == ["status", "--node", "h:1"])
        #expect(moved(["--node=h:1", "--token", "t", "bench", "append", "--count", "3"]) == ["bench", "append", "--node=h:1", "--token", "t", "--count", "3"])
        #expect(moved(["--tls-ca", "ca.pem", "get", "gao:1"]) == ["get", "--tls-ca", "ca.pem", "gao:1"])
        #expect(moved(["status", "--node", "h:1"]) == ["status", "--node", "h:1"])
        #expect(moved(["--json", "status"]) == ["--json", "status"])
        #expect(moved(["--node", "h:1"]) == ["--node", "h:1"])
    }

    @Test func aMisspeltSubcommandGetsTheNearestName() {
        func typo(_ a: [String]) -> String? { IncidentctlArguments.misspeltSubcommand(a, paths: Self.paths)?.suggestion }
        #expect(typo(["stauts"]) == "status")
        #expect(typo(["incident"]) == "incidents")
        #expect(typo(["bench", "apend", "--count", "3"]) == "append")
        #expect(typo(["status", "--json"]) == nil)
        #expect(typo(["get", "gao:12"]) == nil)
        #expect(typo(["help", "status"]) == nil)
        #expect(typo(["--help"]) == nil)
        #expect(typo(["frobnicate"]) == nil)
        #expect(IncidentctlArguments.editDistance("stauts", "status") == 1)
        #expect(IncidentctlArguments.editDistance("", "abc") == 3)
    }

    @Test func peerProtocolLinesAreRecognised() {
        #expect(IncidentConnection.isPeerProtocolLine(Array(#"{"type":"hello","version":2}"#.utf8)))
        #expect(IncidentConnection.isPeerProtocolLine(Array(#"{"type":"error","code":"invalid_message"}"#.utf8)))
        #expect(!IncidentConnection.isPeerProtocolLine(Array(#"{"ok":true}"#.utf8)))
        #expect(!IncidentConnection.isPeerProtocolLine(Array("{}".utf8)))
    }

    @Test func aNodeThatIsDownIsSaidPlainly() async throws {
        // Port 1 on loopback: nothing listens there.
        let error = await #expect(throws: ClientError.self) {
            try await IncidentConnection.withConnection(to: HostPort(host: "127.0.0.1", port: 1)) { _ in 0 }
        }
        #expect(error?.description == "cannot connect to 127.0.0.1:1: connection refused (is incidentd running there?)")
    }

    @Test func theIncidentViewReadsAsText() throws {
        let view = try JSONParser.parse(
            Array(
                #"""
                {"casualties":{"disputed":true,"figure":{"counts":{"civilians":{"killed":2,"missing":0,"wounded":1},"peacekeepers":{"killed":0,"missing":0,"wounded":0}},"event":"gao:9"},
                 "reports":[{"counts":{"civilians":{"killed":2,"missing":0,"wounded":1}},"event":"gao:9","hlc":"1-0","origin":"gao"},
                            {"counts":{"civilians":{"killed":3,"missing":0,"wounded":0}},"event":"hq:4","hlc":"2-0","origin":"hq"}]},
                 "counted":true,
                 "fields":{"category":{"event":"gao:3","value":"ied"},"location":{"event":"gao:3","value":{"name":"Gao"}},"summary":{"event":"gao:5","value":"IED on the RN16"}},
                 "history":[{"hlc":"1795928217005-0","id":"gao:3","type":"incident.reported"},{"hlc":"1795928217009-0","id":"gao:9","type":"casualties.reported"}],
                 "incident_id":"i-1","reported_by":"gao:3","retracted":false,"retractions":[],"sector":"east",
                 "status":{"event":"gao:3","value":"open"},"verification":{"event":"gao:3","value":"unverified"}}
                """#.utf8))
        let lines = IncidentViewText.lines(view)
        #expect(lines.first == "incident      i-1")
        #expect(lines.contains("status        open  (gao:3)"))
        #expect(lines.contains("  location  name Gao  (gao:3)"))
        #expect(lines.contains("  summary   IED on the RN16  (gao:5)"))
        #expect(lines.contains("casualties    civilians killed 2 wounded 1  DISPUTED: the reports disagree  (gao:9)"))
        #expect(lines.contains("  reported by hq   civilians killed 3  (hq:4)"))
        #expect(lines.contains("  1795928217009-0  gao:9  casualties.reported"))
        #expect(!lines.contains { $0.contains("{") })
    }

    @Test func appendListsTheEventTypes() async throws {
        let help = try await Security.run("incidentctl", ["append", "--help"])
        let refused = try await Security.run("incidentctl", ["append", "--type", "incident.exploded", "--sector", "east", "--data", "{}"])
        #expect(refused.status != 0)
        for type in EventType.allCases {
            #expect(help.stdout.contains(type.rawValue), "\(type.rawValue) in append --help")
            #expect(refused.stderr.contains(type.rawValue), "\(type.rawValue) in \(refused.stderr)")
        }
    }

    @Test func aTypoNamesTheNearestSubcommand() async throws {
        let r = try await Security.run("incidentctl", ["stauts"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("did you mean 'status'?"), "\(r.stderr)")
    }

    @Test func theNodeComesFromAnOptionBeforeTheSubcommandOrTheEnvironment() async throws {
        try await Security.withNode("gao") { node in
            let before = try await Security.run("incidentctl", ["--node", node.client.description, "status"])
            #expect(before.status == 0, "\(before.stderr)")
            #expect(before.stdout.contains("node        gao"))
            let env = try await Security.run("incidentctl", ["status"], environment: ["INCIDENTCTL_NODE": node.client.description])
            #expect(env.status == 0, "\(env.stderr)")
            #expect(env.stdout.contains("node        gao"))
            let flagWins = try await Security.run("incidentctl", ["status", "--node", node.client.description], environment: ["INCIDENTCTL_NODE": "127.0.0.1:1"])
            #expect(flagWins.status == 0, "\(flagWins.stderr)")
            let down = try await Security.run("incidentctl", ["status"], environment: ["INCIDENTCTL_NODE": "127.0.0.1:1"])
            #expect(down.stderr.contains("cannot connect to 127.0.0.1:1: connection refused (is incidentd running there?)"), "\(down.stderr)")
        }
    }

    @Test func aPeerPortIsNamedAsOne() async throws {
        try await Security.withNode("gao") { node in
            let peer = try #require(node.peer)
            let r = try await Security.run("incidentctl", ["status", "--node", peer.description])
            #expect(r.status != 0)
            #expect(r.stderr.contains("\(peer) is a peer port (replication), not a client API"), "\(r.stderr)")
        }
    }

    @Test func anUnknownSectorIsNotFoundAndAnIncidentReadsAsText() async throws {
        try await Security.withNode("gao") { node in
            let at = ["--node", node.client.description]
            let none = try await Security.run("incidentctl", ["incidents", "--sector", "nowhere"] + at)
            #expect(none.status != 0)
            #expect(none.stderr.contains("not_found: no sector nowhere"), "\(none.stderr)")
            let data = #"{"incident_id":"i-1","category":"ied","summary":"IED on the RN16","occurred_at":"2026-11-28T06:40:00Z","location":{"name":"Gao"}}"#
            let appended = try await Security.run("incidentctl", ["append", "--type", "incident.reported", "--sector", "east", "--data", data] + at)
            #expect(appended.status == 0, "\(appended.stderr)")
            let east = try await Security.run("incidentctl", ["incidents", "--sector", "east"] + at)
            #expect(east.status == 0, "\(east.stderr)")
            var shown = ""
            for _ in 0..<50 {
                shown = try await Security.run("incidentctl", ["incident", "i-1"] + at).stdout
                if shown.contains("incident.reported") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(shown.contains("IED on the RN16  (gao:1)"), "\(shown)")
            #expect(shown.contains("name Gao  (gao:1)"), "\(shown)")
            #expect(!shown.contains("{"), "\(shown)")
        }
    }

    /// `ingest` of a bundle with a corrupted event (gao's 23rd of 50, beside kidal's 30, in
    /// several requests: ~20 KiB lines) says what became of every event and exits 1; the
    /// mended bundle then exits 0.
    @Test func ingestExitsNonZeroAndCountsEveryEventWhenAnyIsRefusedOrSkipped() async throws {
        let gao = NodeIdentity(privateKey: .init())
        let kidal = NodeIdentity(privateKey: .init())
        let good = Bundles.chain("gao", 50, signer: gao, signedAt: [10, 20, 30, 40, 50], padding: 20_000)
        var bad = good
        bad[22] = Bundles.corrupted(bad[22])
        let kidalLines = Bundles.chain("kidal", 30, signer: kidal, signedAt: [15, 30], padding: 20_000)
        func text(_ lines: [[UInt8]]) -> String { lines.map { String(decoding: $0, as: UTF8.self) + "\n" }.joined() }
        let trust = ["--trust", "gao=\(gao.publicKeyBase64)", "--trust", "kidal=\(kidal.publicKeyBase64)"]
        try await Security.withNode("hq", arguments: ["--fsync", "never"] + trust) { node in
            let at = ["--node", node.client.description]
            let r = try await Security.run("incidentctl", ["ingest", "-"] + at, stdin: text(Bundles.interleave(bad, kidalLines)))
            #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
            #expect(r.stdout.contains("new 50  duplicate 0  refused 3  skipped 27"), "\(r.stdout)")
            #expect(r.stdout.contains("refused gao:23: bad_hash"), "\(r.stdout)")
            #expect(r.stdout.contains("skipped 27 (gao:24 … gao:50): they wait on gao:23, which was refused"), "\(r.stdout)")
            let mended = try await Security.run("incidentctl", ["ingest", "-"] + at, stdin: text(good))
            #expect(mended.status == 0, "\(mended.stdout)\(mended.stderr)")
            #expect(mended.stdout.contains("new 30  duplicate 20  refused 0  skipped 0"), "\(mended.stdout)")
        }
    }
}

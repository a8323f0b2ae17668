import Foundation
import IncidentClient
import IncidentModel
import IncidentServer
import IncidentTestSupport
import Testing
import Wire

/// TLS on the client API and mutual TLS between peers, with certificates made by the recipe of
/// docs/OPERATIONS.md (its two marked blocks, run as written).
@Suite("TLS with real certificates")
struct TLSTests {
    /// The shell block after `<!-- tls-recipe:NAME -->` in docs/OPERATIONS.md.
    static func recipe(_ name: String) throws -> String {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/OPERATIONS.md").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard let marker = text.range(of: "<!-- tls-recipe:\(name) -->"),
            let open = text.range(of: "```sh\n", range: marker.upperBound..<text.endIndex),
            let close = text.range(of: "\n```", range: open.upperBound..<text.endIndex)
        else { throw Fixtures.Problem("no tls-recipe:\(name) block in docs/OPERATIONS.md") }
        return String(text[open.upperBound..<close.lowerBound])
    }

    /// A directory with `ca.crt` and, for each name, `NAME.crt` and `NAME.key` for 127.0.0.1 and
    /// localhost, made by the documented recipe.
    static func certificates(_ names: [String]) async throws -> String {
        let dir = TestNode.temporaryDirectory(prefix: "certs")
        try await Security.shell(try recipe("ca"), in: dir)
        for name in names {
            try await Security.shell(try recipe("node"), in: dir, environment: ["NODE": name, "HOST": "localhost", "IP": "127.0.0.1"])
        }
        return dir
    }

    @Test func clientTalksToANodeOverTLS() async throws {
        let certs = try await Self.certificates(["gao"])
        let other = try await Self.certificates([])
        defer {
            try? FileManager.default.removeItem(atPath: certs)
            try? FileManager.default.removeItem(atPath: other)
        }
        let config = #"{"tls_cert":"\#(certs)/gao.crt","tls_key":"\#(certs)/gao.key"}"#
        try await Security.inProcess("gao", config: config) { node in
            #expect(node.log.contains("client.tls=on"))
            let tls = IncidentEndpoint(node.client, tlsCA: certs + "/ca.crt")
            let r = try await IncidentConnection.withConnection(to: tls) { c in
                try await c.request(Requests.append(eventObjects: [Fixtures.incident("over-tls")]))
            }
            #expect(r["ids"] == .array([.string("gao:1")]))
            // By name too: the certificate names localhost.
            let byName = IncidentEndpoint(HostPort(host: "localhost", port: node.client.port), tlsCA: certs + "/ca.crt")
            let status = try await IncidentConnection.withConnection(to: byName) { try await $0.request(Requests.status) }
            #expect(status["events"]?.integerValue == 1)
            // A client trusting another CA refuses the node's certificate.
            await #expect(throws: (any Error).self) {
                try await IncidentConnection.withConnection(to: IncidentEndpoint(node.client, tlsCA: other + "/ca.crt")) {
                    try await $0.request(Requests.status)
                }
            }
            // Plain TCP gets no answer: the node speaks TLS only. (Blocking reads, off the pool
            // the node runs on.)
            let (sent, answer) = try await Security.blocking {
                let plain = try RawClient(node.client)
                return (plain.send(line: Requests.status), plain.readLine(timeout: 5))
            }
            #expect(sent)
            #expect(answer.flatMap { try? JSONParser.parse($0) } == nil)
            // incidentctl with --tls-ca.
            let ctl = try await Security.run("incidentctl", ["status", "--node", node.client.description, "--tls-ca", certs + "/ca.crt"])
            #expect(ctl.status == 0, "\(ctl.stderr)")
            #expect(ctl.stdout.contains("events      1"))
        }
    }

    /// Two nodes whose certificates the mission CA signed replicate over mutual TLS; a third node
    /// whose key both trust, but whose certificate another CA signed, is refused by TLS.
    @Test func peersReplicateOverMutualTLS() async throws {
        let certs = try await Self.certificates(["a", "b"])
        let rogue = try await Self.certificates(["c"])
        defer {
            try? FileManager.default.removeItem(atPath: certs)
            try? FileManager.default.removeItem(atPath: rogue)
        }
        func peerTLS(_ dir: String, _ name: String, ca: String) -> [String: String] {
            ["INCIDENTD_PEER_TLS_CERT": "\(dir)/\(name).crt", "INCIDENTD_PEER_TLS_KEY": "\(dir)/\(name).key", "INCIDENTD_PEER_TLS_CA": ca]
        }
        let environments = [
            "a": peerTLS(certs, "a", ca: certs + "/ca.crt"), "b": peerTLS(certs, "b", ca: certs + "/ca.crt"), "c": peerTLS(rogue, "c", ca: certs + "/ca.crt"),
        ]
        let ids = ["a", "b", "c"]
        let dirs = ids.map { TestNode.temporaryDirectory(prefix: "incidentd-\($0)") }
        defer { dirs.forEach { try? FileManager.default.removeItem(atPath: $0) } }
        // Each trusts every key (c's too): only TLS keeps c out.
        var configs = try zip(ids, dirs).map { id, dir in
            try inProcessConfig(nodeID: id, dataDir: dir, environment: environments[id]!, arguments: ["--fsync", "never"])
        }
        let keys = try configs.map { try IncidentNode.publicKey($0) }
        for i in configs.indices {
            for j in configs.indices where j != i { configs[i].trust[ids[j]] = keys[j] }
        }
        try await withNode(config: configs[0]) { a in
            configs[1].peers = [try #require(a.peer)]
            configs[2].peers = [try #require(a.peer)]
            try await withNode(config: configs[1]) { b in
                try await withNode(config: configs[2]) { c in
                    for node in [b, c] {
                        _ = try await IncidentConnection.withConnection(to: node.client) {
                            try await $0.request(Requests.append(eventObjects: [Fixtures.incident("from-\(node.nodeID)")]))
                        }
                    }
                    let vector = try await TestCluster.waitConverged([a, b], minimum: VersionVector(["b": 1]))
                    #expect(vector["c"] == 0, "c's certificate is not the mission's: no session")
                    var link: JSONValue? = nil
                    try await Security.wait("c's failed dial") {
                        let status = try await IncidentConnection.withConnection(to: c.client) { try await $0.request(Requests.status) }
                        link = status["peers"]?.arrayValue?.first
                        return link?["last_error"] != nil
                    }
                    #expect(link?["connected"]?.boolValue == false, "\(String(describing: link))")
                    #expect(try await TestCluster.vector(a)["c"] == 0)
                }
            }
        }
    }
}

import Foundation
@testable import IncidentHTTP
import IncidentClient
import IncidentModel
import IncidentTestSupport
import NIOHTTP1
import Testing

/// `/metrics` (docs/OPERATIONS.md, "Metrics"): what a live node exports passes
/// `promtool check metrics`, holds every metric of the catalog, and each is documented; the
/// example alert rules pass `promtool check rules`. The nodes run in the test's process, each
/// recording into a registry of its own (`NodeMetrics.standalone`), as incidentd records into
/// the one it bootstraps.
@Suite("HTTP metrics", .timeLimit(.minutes(2)))
struct HTTPMetricsTests {
    static func promtool() throws -> String {
        try #require(
            HTTP.find(["/usr/bin/promtool", "/usr/local/bin/promtool"]), "promtool is missing: `make deps` installs Debian's prometheus package")
    }

    static var operations: String {
        get throws { try String(contentsOfFile: HTTP.repositoryRoot + "/docs/OPERATIONS.md", encoding: .utf8) }
    }

    @Test("a live node's /metrics passes promtool check metrics and holds every metric of the catalog")
    func promtoolCheckMetrics() async throws {
        let promtool = try Self.promtool()
        // A peer that never answers (port 1 refuses): the per-peer series are there, connected 0.
        try await HTTP.inProcess(arguments: ["--fsync", "always", "--peer", "127.0.0.1:1"]) { node in
            let body = Array(#"{"event":"#.utf8) + Fixtures.incident(UUID().uuidString.lowercased()) + Array("}".utf8)
            #expect(try await HTTP.request(node, .POST, "/api/v1/events", body: body).status == 200)
            #expect(try await HTTP.request(node, .GET, "/api/v1/sectors/nowhere").status == 404)
            var text = ""
            try await Security.wait("the peer's series") {
                text = String(decoding: try await HTTP.request(node, .GET, "/metrics").body, as: UTF8.self)
                return text.contains("incidentlog_peer_connected{")
            }
            let check = try await Security.run(executable: promtool, ["check", "metrics"], stdin: text)
            #expect(check.status == 0, "promtool check metrics:\n\(check.stdout)\(check.stderr)\n\(text)")
            #expect(check.stdout.isEmpty && check.stderr.isEmpty, "promtool check metrics:\n\(check.stdout)\(check.stderr)")
            for name in NodeMetrics.catalog.keys {
                #expect(text.contains("# TYPE \(name) "), "\(name) is not exported")
            }
            #expect(text.contains(#"incidentlog_peer_connected{peer="127.0.0.1:1",direction="out"} 0.0"#), "\(text)")
            #expect(text.contains(#"incidentlog_client_errors_total{code="not_found"} 1"#))
            #expect(text.contains(#"incidentlog_events_stored_total{origin="test"} 1"#))
            #expect(text.contains("incidentlog_fsync_duration_seconds_count 1"))
        }
    }

    /// The lines of `/metrics` that start with `prefix`.
    static func lines(_ node: some NodeUnderTest, _ prefix: String) async throws -> [String] {
        let text = String(decoding: try await HTTP.request(node, .GET, "/metrics").body, as: UTF8.self)
        return text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) }
    }

    /// Two nodes in one test process, each built with the factory of its own registry
    /// (`NodeMetrics.standalone`): what one records (events stored, appends timed, a refusal
    /// counted) shows at its own `/metrics` only.
    @Test("two in-process nodes each export their own figures, none of the other's")
    func eachInProcessNodeExportsItsOwnFigures() async throws {
        try await HTTP.inProcess("gao") { gao in
            try await HTTP.inProcess("kidal") { kidal in
                try await IncidentConnection.withConnection(to: gao.client) { c in
                    for ids in [["m1", "m2"], ["m3"]] {
                        let r = try await c.request(Requests.append(eventObjects: ids.map { Fixtures.incident($0) }))
                        #expect(r["ok"] == .bool(true), "\(r)")
                    }
                    // A refusal on the line protocol, answered by gao.
                    try await c.send(Array("this is not json".utf8))
                    #expect(Security.errorCode(try await c.receive()) == "invalid_json")
                }
                // And one over HTTP, answered by kidal.
                #expect(try await HTTP.request(kidal, .GET, "/api/v1/sectors/nowhere").status == 404)

                #expect(try await Self.lines(gao, "incidentlog_events_stored_total{") == [#"incidentlog_events_stored_total{origin="gao"} 3"#])
                #expect(try await Self.lines(gao, "incidentlog_append_duration_seconds_count") == ["incidentlog_append_duration_seconds_count 2"])
                #expect(try await Self.lines(gao, "incidentlog_client_errors_total{") == [#"incidentlog_client_errors_total{code="invalid_json"} 1"#])
                #expect(try await Self.lines(gao, "incidentlog_log_events ") == ["incidentlog_log_events 3.0"])

                #expect(try await Self.lines(kidal, "incidentlog_events_stored_total{") == [])
                #expect(try await Self.lines(kidal, "incidentlog_append_duration_seconds_count") == ["incidentlog_append_duration_seconds_count 0"])
                #expect(try await Self.lines(kidal, "incidentlog_client_errors_total{") == [#"incidentlog_client_errors_total{code="not_found"} 1"#])
                #expect(try await Self.lines(kidal, "incidentlog_log_events ") == ["incidentlog_log_events 0.0"])
            }
        }
    }

    @Test("every exported metric is documented in docs/OPERATIONS.md, and nothing else is")
    func documented() throws {
        let doc = try Self.operations
        let documented = Set(
            doc.split(separator: "\n").filter { $0.hasPrefix("| `incidentlog_") }.compactMap { $0.split(separator: "`").dropFirst().first.map(String.init) })
        #expect(documented == Set(NodeMetrics.catalog.keys))
    }

    @Test("the example alert rules pass promtool check rules and name exported metrics")
    func alertRules() async throws {
        let promtool = try Self.promtool()
        let doc = try Self.operations
        let section = try #require(doc.range(of: "### Example alert rules"))
        let after = doc[section.upperBound...]
        let open = try #require(after.range(of: "```yaml\n"))
        let close = try #require(after[open.upperBound...].range(of: "```"))
        let rules = String(after[open.upperBound..<close.lowerBound])
        let dir = TestNode.temporaryDirectory(prefix: "rules")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try rules.write(toFile: dir + "/rules.yml", atomically: true, encoding: .utf8)
        let check = try await Security.run(executable: promtool, ["check", "rules", dir + "/rules.yml"])
        #expect(check.status == 0, "promtool check rules:\n\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("SUCCESS: 2 rules found"), "\(check.stdout)")
        for line in rules.split(separator: "\n") where line.contains("expr:") {
            let name = line.split(separator: " ").first { $0.hasPrefix("incidentlog_") }.map(String.init)
            #expect(name.map { NodeMetrics.catalog[$0] != nil } == true, "\(line)")
        }
    }
}

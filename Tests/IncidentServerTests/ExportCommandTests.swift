import Foundation
import IncidentBench
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing
import Wire

/// `incidentctl export --format` against a real node: every page of the incidents view is
/// written once, and the figures summed per sector are the node's sector views. The HTTP
/// route `/api/v1/export` writes the same bytes.
@Suite struct ExportCommandTests {
    @Test func exportFetchesEveryPageAndItsFiguresAreTheSectorViews() async throws {
        try await TestNode.with(nodeID: "exp", extraArguments: ["--http-listen", "127.0.0.1:0"]) { node in
            // About 30% of generated events report an incident: more than one page of 1000.
            let bench = ImportBenchmark(node: IncidentEndpoint(node.client), events: 4000, warmup: 0, batch: 1000, maximumRequestBytes: 1 << 20, seed: 11)
            _ = try await bench.run()
            try await IncidentConnection.withConnection(to: node.client) { c in
                for _ in 0..<200 {
                    if try await c.request(Requests.status)["projections"]?["folded"]?.integerValue == 4000 { return }
                    try await Task.sleep(for: .milliseconds(25))
                }
                Issue.record("the views did not fold 4000 events within 5 s")
            }
            let address = "\(node.client.host):\(node.client.port)"
            let dir = TestNode.temporaryDirectory(prefix: "export")
            defer { try? FileManager.default.removeItem(atPath: dir) }

            func incidentctl(_ arguments: [String]) async throws -> ChildProcess.Outcome {
                try await Security.run("incidentctl", arguments)
            }
            let geojson = try await incidentctl(["export", "--node", address, "--format", "geojson", "--output", dir + "/all.geojson"])
            #expect(geojson.status == 0, "\(geojson.stderr)")
            let collection = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/all.geojson"))))
            let features = try #require(collection["features"]?.arrayValue)
            let total = try await IncidentConnection.withConnection(to: node.client) {
                try await $0.request(Array(#"{"op":"incidents","limit":1}"#.utf8))["view"]?["total"]?.integerValue
            }
            #expect(Int64(features.count) == total)
            #expect(features.count > 1000, "the export should span several pages")
            #expect(geojson.stderr.contains("wrote \(features.count) incidents"))
            #expect(Set(features.compactMap { $0["id"]?.stringValue }).count == features.count)

            for sector in ["north", "east", "west", "centre", "bamako"] {
                let view = try await IncidentConnection.withConnection(to: node.client) {
                    try await $0.request(Array(#"{"op":"sector","sector":"\#(sector)"}"#.utf8))["view"]
                }
                let counted = features.compactMap(\.["properties"]).filter {
                    $0["sector"]?.stringValue == sector && $0["status"]?.stringValue != "retracted"
                }
                for kind in ["killed", "wounded", "missing"] {
                    let sum = counted.reduce(Int64(0)) { $0 + ($1[kind]?.integerValue ?? 0) }
                    #expect(sum == view?["casualties"]?["total"]?[kind]?.integerValue, "\(sector) \(kind)")
                }
                #expect(Int64(counted.count) == view?["incidents"]?["total"]?.integerValue, "\(sector)")
            }

            // One sector as CSV with the HXL row, on stdout: two header lines, then one line per incident.
            let hxl = try await incidentctl(["export", "--node", address, "--format", "hxl", "--sector", "east"])
            #expect(hxl.status == 0, "\(hxl.stderr)")
            let lines = hxl.stdout.components(separatedBy: "\r\n").dropLast()
            #expect(lines.dropFirst().first?.hasPrefix("#event +id,#date +occurred,") == true)
            let east = features.filter { $0["properties"]?["sector"]?.stringValue == "east" }.count
            #expect(lines.count == east + 2)

            // The HTTP route: the same bytes as the command, for every format, of all and of one sector.
            for (format, sector) in [("csv", nil), ("hxl", "east"), ("geojson", nil), ("geojson", "west")] as [(String, String?)] {
                var arguments = ["export", "--node", address, "--format", format]
                if let sector { arguments += ["--sector", sector] }
                let command = try await incidentctl(arguments)
                #expect(command.status == 0, "\(command.stderr)")
                let answer = try await HTTP.request(node, .GET, "/api/v1/export?format=\(format)" + (sector.map { "&sector=\($0)" } ?? ""))
                #expect(answer.status == 200)
                // A Bool, not the arrays: on a mismatch swift-testing would diff two exports element by element.
                let same = answer.body == Array(command.stdout.utf8)
                #expect(same, "\(format) \(sector ?? "all"): \(answer.body.count) bytes over HTTP, \(command.stdout.utf8.count) from incidentctl")
            }
            let unknownFormat = try await HTTP.request(node, .GET, "/api/v1/export?format=xlsx")
            #expect(unknownFormat.status == 400)
            #expect(unknownFormat.json?["error"]?["code"]?.stringValue == "invalid_query")
            let unknownSector = try await HTTP.request(node, .GET, "/api/v1/export?sector=nowhere")
            #expect(unknownSector.status == 404)
            #expect(unknownSector.json?["error"]?["code"]?.stringValue == "not_found")

            let wrong = try await incidentctl(["export", "--node", address, "--format", "xlsx"])
            #expect(wrong.status == 64)
            #expect(wrong.stderr.contains("--format: expected csv, hxl or geojson"))
        }
    }
}

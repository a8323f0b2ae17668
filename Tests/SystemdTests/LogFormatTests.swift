import Foundation
import IncidentTestSupport
import Testing

@Suite("Log formats")
struct LogFormatTests {
    /// `--log-format json`: every line on stderr is one JSON object with ts, level, msg and the
    /// metadata under its dotted keys.
    @Test func jsonFormatWritesOneObjectPerLine() async throws {
        try await TestNode.with(nodeID: "jsonlog", extraArguments: ["--log-format", "json", "--fsync", "never"]) { node in
            let lines = node.log.split(separator: "\n")
            #expect(!lines.isEmpty)
            var objects: [[String: Any]] = []
            for line in lines {
                let object = try #require(
                    try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
                objects.append(object)
            }
            let ready = try #require(objects.first { $0["msg"] as? String == "node ready" }, "\(node.log)")
            #expect(ready["level"] as? String == "info")
            #expect(ready["node.id"] as? String == "jsonlog")
            #expect((ready["ts"] as? String)?.hasSuffix("Z") == true)
        }
    }

    /// Without a journal on stderr the automatic choice is logfmt, whatever the machine runs.
    @Test func autoFormatIsLogfmtWhenStderrIsAFile() async throws {
        try await TestNode.with(nodeID: "autolog", extraArguments: ["--fsync", "never"]) { node in
            #expect(node.log.contains(#"level=info msg="node ready""#), "\(node.log)")
        }
    }
}

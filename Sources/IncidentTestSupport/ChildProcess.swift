import Foundation
import IncidentBench

/// Runs a command to completion: `incidentctl`, `incidentd --hash-token`, systemd-analyze,
/// promtool, unshare. Input and output go through files, so a chatty child never blocks on a
/// full pipe, and the exit is awaited (`SpawnedProcess.exited`), so no thread of Swift's pool is
/// held while the child runs.
public enum ChildProcess {
    public struct Outcome: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// - Parameters:
    ///   - environment: the child's whole environment; nil inherits the test's.
    ///   - directory: the child's working directory; nil inherits the test's.
    public static func run(
        _ executable: String, _ arguments: [String], stdin: String = "", environment: [String: String]? = nil, directory: String? = nil
    ) async throws -> Outcome {
        let dir = TestNode.temporaryDirectory(prefix: "child")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let input = dir + "/stdin", output = dir + "/stdout", error = dir + "/stderr"
        for f in [input, output, error] { _ = FileManager.default.createFile(atPath: f, contents: nil) }
        try Data(stdin.utf8).write(to: URL(fileURLWithPath: input))
        let p = try SpawnedProcess(
            executable: executable, arguments: arguments, environment: environment, directory: directory, stdin: input,
            stdout: .file(output, append: false), stderr: .file(error, append: false))
        let status = await p.exited()
        func text(_ path: String) -> String { FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? "" }
        return Outcome(status: status, stdout: text(output), stderr: text(error))
    }
}

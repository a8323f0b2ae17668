import Foundation
import IncidentBench
import IncidentTestSupport

/// Runs a command to completion and returns its exit status, stdout and stderr (for tools such
/// as systemd-analyze and unshare). Output goes through files, so a chatty child never blocks
/// on a full pipe.
struct Subprocess {
    var status: Int32
    var stdout: String
    var stderr: String

    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) async throws -> Subprocess {
        let dir = TestNode.temporaryDirectory(prefix: "subprocess")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outPath = dir + "/stdout"
        let errPath = dir + "/stderr"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment { p.environment = environment }
        p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // Awaited, not waitUntilExit: that would hold a thread of the cooperative pool meanwhile.
        let status = await p.exited()
        func text(_ path: String) -> String {
            FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? ""
        }
        return Subprocess(status: status, stdout: text(outPath), stderr: text(errPath))
    }

    /// The first executable among `candidates`.
    static func find(_ candidates: [String]) -> String? {
        candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// The repository's root, found from this file's path (Tests/SystemdTests/Support/…).
let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }
    return url.path
}()

/// A test-side failure with its explanation.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

import Foundation
import IncidentTestSupport

/// The tools the systemd tests run (`ChildProcess.run`): systemd-analyze, unshare, journalctl.
enum Subprocess {
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

import Foundation

/// A fresh directory under /tmp for one test; the caller removes it with `remove()` (in a defer).
struct TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/incidentlog-projections-test-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: p)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

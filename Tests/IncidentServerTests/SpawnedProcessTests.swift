import Foundation
import IncidentTestSupport
import Testing

@testable import IncidentBench

#if canImport(Glibc)
import Glibc
#endif

/// The children of the tests and benchmarks (`SpawnedProcess`): status, streams, environment,
/// directory, signals, and no descriptor of the parent's beyond 0–2, however many it holds.
@Suite struct SpawnedProcessTests {
    func file(_ path: String) -> String { FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) } ?? "" }

    @Test func exitCodeStreamsEnvironmentAndDirectory() async throws {
        let dir = TestNode.temporaryDirectory(prefix: "spawn")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "hello\n".write(toFile: dir + "/in", atomically: true, encoding: .utf8)
        try "kept\n".write(toFile: dir + "/out", atomically: true, encoding: .utf8)
        let p = try SpawnedProcess(
            executable: "/bin/sh", arguments: ["-c", #"read x; echo "$x $FOO"; pwd; echo oops >&2; exit 3"#],
            environment: ["FOO": "bar", "PATH": "/usr/bin:/bin"], directory: dir, stdin: dir + "/in",
            stdout: .file(dir + "/out", append: true), stderr: .file(dir + "/err", append: false))
        #expect(await p.exited() == 3)
        #expect(!p.terminatedBySignal)
        #expect(!p.isRunning)
        #expect(file(dir + "/out") == "kept\nhello bar\n\(dir)\n")
        #expect(file(dir + "/err") == "oops\n")
    }

    @Test func aSignalEndsTheChildAndIsReported() async throws {
        let p = try SpawnedProcess(executable: "/bin/sleep", arguments: ["30"])
        #expect(p.isRunning)
        p.signal(SIGTERM)
        #expect(await p.exited() == SIGTERM)
        #expect(p.terminatedBySignal)
        // Asked again, the same answer; a signal to an ended child goes nowhere.
        #expect(p.terminationStatus == SIGTERM)
        p.signal(SIGKILL)
    }

    /// Foundation's `Process.run()` crashed the test process reading /proc/self/fd past
    /// glibc's buffer when some 1,300 descriptors or more were open. Here 1,500 are open, none
    /// close-on-exec, and the child holds none of them.
    @Test func manyOpenDescriptorsAreNeitherListedNorInherited() async throws {
        let dir = TestNode.temporaryDirectory(prefix: "spawn")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        for _ in 0..<1500 {
            let fd = open("/dev/null", O_RDONLY)
            try #require(fd >= 0)
            held.append(fd)
        }
        let p = try SpawnedProcess(
            executable: "/bin/sh", arguments: ["-c", "ls /proc/$$/fd"], stdout: .file(dir + "/fds", append: false))
        #expect(await p.exited() == 0)
        let fds = Set(file(dir + "/fds").split(whereSeparator: \.isWhitespace).compactMap { Int32($0) })
        #expect(fds.isSuperset(of: [0, 1, 2]))
        #expect(fds.intersection(held).isEmpty, "\(fds.intersection(held).count) of the parent's descriptors inherited")
    }

    @Test func aMissingExecutableIsAnError() {
        #expect(throws: SpawnedProcess.SpawnError.self) {
            _ = try SpawnedProcess(executable: "/nonexistent/incidentd", arguments: [])
        }
    }
}

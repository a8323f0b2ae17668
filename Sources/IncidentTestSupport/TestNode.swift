import Foundation
public import Wire
public import IncidentBench
import IncidentClient

#if canImport(Glibc)
import Glibc
#endif

/// Starts a real `incidentd` process for a test: on loopback, port 0, its own data directory,
/// waits until it reports its address, and stops it afterwards.
///
///     try await TestNode.with(nodeID: "gao") { node in … node.client … }
public final class TestNode: NodeUnderTest, @unchecked Sendable {
    public let nodeID: String
    public let dataDir: String
    public let extraArguments: [String]
    public private(set) var client: HostPort = HostPort(host: "127.0.0.1", port: 0)
    /// The peer listener's address (port 0 is replaced by the one the node got).
    public private(set) var peer: HostPort? = nil
    /// The HTTP listener's address, when the node runs one (`--http-listen 127.0.0.1:0`).
    public private(set) var http: HostPort? = nil
    /// Arguments added on the next `start` only (e.g. `--peer` once the other node is up).
    public var nextStartArguments: [String] = []
    /// Environment variables set for the process, over the test's own (e.g. NOTIFY_SOCKET).
    public var environment: [String: String] = [:]
    public private(set) var process: SpawnedProcess?
    let logPath: String
    let readyPath: String
    /// Port 0 on first start; the same port on restarts, so peers that dial it find it again.
    var peerListenArgument = "127.0.0.1:0"

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// - Parameters:
    ///   - dataDir: reuse a directory (restarts); a fresh one under the temp dir when nil.
    public init(nodeID: String = "test", dataDir: String? = nil, extraArguments: [String] = []) {
        self.nodeID = nodeID
        self.dataDir = dataDir ?? TestNode.temporaryDirectory(prefix: "incidentd-\(nodeID)")
        self.extraArguments = extraArguments
        self.logPath = self.dataDir + ".log"
        self.readyPath = self.dataDir + ".ready"
    }

    /// The incidentd binary beside the test bundle (`swift build` puts both in one directory),
    /// or `$INCIDENTD_BIN`.
    public static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["INCIDENTD_BIN"] { return path }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // Inside an .xctest bundle on some layouts: climb until incidentd is found.
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("incidentd").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug/incidentd").path
    }

    public static func temporaryDirectory(prefix: String) -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        return dir
    }

    /// Starts the process and waits (up to 60 s) until it is listening.
    ///
    /// A restart binds the peer port the node had, so that peers dialing it find it again. That
    /// port came from the kernel's ephemeral range, and meanwhile another socket of the test
    /// process (a client's local port, another test's listener) may hold it for a moment: a
    /// restart refused with "address already in use" on it is tried again, 10 times, 300 ms
    /// apart, before it fails.
    public func start() async throws {
        var attempts = 1
        while true {
            let logged = log.utf8.count
            do {
                return try await launch()
            } catch let failure as Failure {
                let said = String(decoding: log.utf8.dropFirst(logged), as: UTF8.self)
                let held = peerListenArgument != "127.0.0.1:0" && said.contains("peer_listen \(peerListenArgument): address already in use")
                guard held, attempts < 10 else { throw failure }
                attempts += 1
                try await Task.sleep(for: .milliseconds(300))
            }
        }
    }

    func launch() async throws {
        unlink(readyPath)
        let arguments =
            ["--node-id", nodeID, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--ready-file", readyPath]
            + (extraArguments.contains("--peer-listen") ? [] : ["--peer-listen", peerListenArgument])
            + extraArguments + nextStartArguments
        // Output and error both appended to the log, across restarts.
        let p = try SpawnedProcess(
            executable: Self.binaryPath, arguments: arguments,
            environment: environment.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(environment) { _, new in new },
            stdout: .file(logPath, append: true), stderr: .file(logPath, append: true))
        process = p
        // Generous: a loaded CI machine running the whole suite in parallel can be slow to start a process.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: readyPath),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: String],
                let address = object["client"].flatMap(HostPort.init)
            {
                client = address
                peer = object["peer"].flatMap(HostPort.init)
                http = object["http"].flatMap(HostPort.init)
                if let peer { peerListenArgument = peer.description }
                return
            }
            if !p.isRunning {
                throw Failure(description: "incidentd exited with \(p.terminationStatus) before it was ready; log:\n\(self.log)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let pid = p.processIdentifier
        let state =
            (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8))?
            .split(separator: "\n").filter { $0.hasPrefix("State:") || $0.hasPrefix("Threads:") }.joined(separator: ", ") ?? "?"
        let wchan = (try? String(contentsOfFile: "/proc/\(pid)/wchan", encoding: .utf8)) ?? "?"
        p.signal(SIGTERM)
        throw Failure(
            description: "incidentd (pid \(pid), running: \(p.isRunning), \(state), wchan \(wchan)) not ready within 60 s; log:\n\(self.log)")
    }

    /// This node's public key (`incidentd --print-public-key`), creating the key if needed.
    public func publicKey() async throws -> String {
        try await LocalNode.printPublicKey(binary: Self.binaryPath, dataDir: dataDir)
    }

    /// Sends `signal` (e.g. SIGHUP) to the running process.
    public func send(signal: Int32) {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, signal)
    }

    /// SIGKILL: the crash a power cut or the OOM killer would cause.
    public func kill9() async {
        guard let p = process, p.isRunning else { return }
        kill(p.processIdentifier, SIGKILL)
        await p.exited()
        process = nil
    }

    /// SIGTERM and wait; returns the exit status.
    @discardableResult
    public func stop() async -> Int32 {
        guard let p = process else { return 0 }
        if p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let status = await p.exited()
        process = nil
        return status
    }

    /// For a `defer`, which cannot await `stop`: SIGKILL without waiting for the exit (a task
    /// collects it), then the files are removed.
    public func discard() {
        if let p = process { Self.killAndCollect(p) }
        removeFiles()
    }

    /// SIGKILL, and a task that collects the exit, so no zombie is left behind.
    static func killAndCollect(_ p: SpawnedProcess) {
        guard p.isRunning else { return }
        p.signal(SIGKILL)
        Task.detached { await p.exited() }
    }

    /// Everything the node wrote to stderr/stdout so far.
    public var log: String {
        (FileManager.default.contents(atPath: logPath)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Removes the data directory and the log.
    public func removeFiles() {
        try? FileManager.default.removeItem(atPath: dataDir)
        try? FileManager.default.removeItem(atPath: logPath)
        try? FileManager.default.removeItem(atPath: readyPath)
    }

    /// Starts a node, runs `body`, stops the node and removes its files, whatever `body` does.
    public static func with<R>(
        nodeID: String = "test", extraArguments: [String] = [], _ body: (TestNode) async throws -> R
    ) async throws -> R {
        let node = TestNode(nodeID: nodeID, extraArguments: extraArguments)
        do {
            try await node.start()
            let result = try await body(node)
            await node.stop()
            node.removeFiles()
            return result
        } catch {
            await node.stop()
            node.removeFiles()
            throw error
        }
    }

    deinit {
        if let p = process { Self.killAndCollect(p) }
    }
}

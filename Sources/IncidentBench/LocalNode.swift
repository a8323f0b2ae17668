import IncidentClient
import Foundation
public import Wire

#if canImport(Glibc)
import Glibc
#endif

/// An `incidentd` process started by a benchmark: the binary beside the running incidentctl,
/// on loopback, with port 0 and a temporary data directory, stopped and removed afterwards.
public final class LocalNode: @unchecked Sendable {
    public let nodeID: String
    public let dataDir: String
    public private(set) var client = HostPort(host: "127.0.0.1", port: 0)
    public private(set) var peer: HostPort? = nil
    var process: SpawnedProcess?

    public init(nodeID: String, parentDirectory: String) {
        self.nodeID = nodeID
        self.dataDir = parentDirectory + "/" + nodeID
    }

    public static var binary: String {
        if let path = ProcessInfo.processInfo.environment["INCIDENTD_BIN"] { return path }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("incidentd").path
    }

    public func publicKey() async throws -> String {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        return try await Self.printPublicKey(binary: Self.binary, dataDir: dataDir)
    }

    /// `incidentd --data-dir DIR --print-public-key`: the node's public key, the key created if needed.
    public static func printPublicKey(binary: String, dataDir: String) async throws -> String {
        let out = dataDir + ".public-key"
        defer { unlink(out) }
        let p = try SpawnedProcess(executable: binary, arguments: ["--data-dir", dataDir, "--print-public-key"], stdout: .file(out, append: false))
        await p.exited()
        let key = FileManager.default.contents(atPath: out).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return key.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func start(arguments: [String]) async throws {
        let ready = dataDir + ".ready"
        unlink(ready)
        let p = try SpawnedProcess(
            executable: Self.binary,
            arguments: ["--node-id", nodeID, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--ready-file", ready, "--log-level", "warning"]
                + arguments,
            stderr: .discard)
        process = p
        for _ in 0..<1500 {
            if let data = FileManager.default.contents(atPath: ready),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: String],
                let c = object["client"].flatMap(HostPort.init)
            {
                client = c
                peer = object["peer"].flatMap(HostPort.init)
                return
            }
            guard p.isRunning else { throw ClientError.protocolError("incidentd \(nodeID) exited during start") }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ClientError.protocolError("incidentd \(nodeID) not ready in 30 s")
    }

    public func stop() async {
        guard let p = process else { return }
        if p.isRunning { kill(p.processIdentifier, SIGTERM) }
        await p.exited()
        process = nil
    }

    /// `stop`, holding the calling thread until the process has exited: for a signal handler or
    /// a `defer`, which cannot wait otherwise, once nothing else is left to run.
    public func stopHoldingTheThread() {
        guard let p = process else { return }
        p.signal(SIGTERM)
        p.waitUntilExit()
        process = nil
    }

    /// RSS of the process in bytes (from /proc), when running.
    public var residentBytes: UInt64? {
        guard let p = process, let text = try? String(contentsOfFile: "/proc/\(p.processIdentifier)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let kb = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { UInt64($0) }
            return kb.map { $0 * 1024 }
        }
        return nil
    }
}

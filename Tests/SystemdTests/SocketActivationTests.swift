import Foundation
import IncidentClient
import IncidentTestSupport
import Testing
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// Socket activation as systemd does it: listening sockets as fds 3, 4 and 5, LISTEN_FDS=3,
/// LISTEN_FDNAMES=client:peer:http, LISTEN_PID = the daemon's pid (set by a `sh` that then execs it).
@Suite("Socket activation")
struct SocketActivationTests {
    @Test func listenersUseThePassedSocketsByName() async throws {
        let client = try ListeningSocket()
        let peer = try ListeningSocket()
        let http = try ListeningSocket()
        let dir = TestNode.temporaryDirectory(prefix: "activation")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let readyPath = dir + "/ready"
        // --listen names another port: the node must serve on the passed socket, not bind this.
        // No --http-listen (off by default): the passed `http` socket alone runs the HTTP listener.
        let node = try ActivatedProcess.spawn(
            binary: TestNode.binaryPath,
            arguments: [
                "--node-id", "activated", "--data-dir", dir + "/data", "--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0",
                "--fsync", "never", "--ready-file", readyPath,
            ],
            sockets: [client.fd, peer.fd, http.fd], names: ["client", "peer", "http"], log: dir + "/log")
        client.close()
        peer.close()
        http.close()
        defer { node.kill9() }

        let ready = try await node.waitForReadyFile(readyPath, log: dir + "/log")
        #expect(ready["client"] == "127.0.0.1:\(client.port)", "\(ready)")
        #expect(ready["peer"] == "127.0.0.1:\(peer.port)", "\(ready)")
        #expect(ready["http"] == "127.0.0.1:\(http.port)", "\(ready)")

        let address = HostPort(host: "127.0.0.1", port: client.port)
        let status = try await IncidentConnection.withConnection(to: address) { try await $0.request(Requests.status) }
        #expect(status["node"]?.stringValue == "activated")
        let appended = try await IncidentConnection.withConnection(to: address) { connection in
            try await connection.request(
                Requests.append(eventObjects: [
                    Array(
                        #"{"type":"incident.reported","sector":"east","data":{"incident_id":"sa-1","category":"ied","summary":"IED on RN16","occurred_at":"2026-11-28T06:40:00Z","location":{"name":"RN16 km 12","lat":16.17,"lon":-0.02}}}"#
                            .utf8)
                ]))
        }
        #expect(appended["ids"]?.arrayValue?.first?.stringValue == "activated:1")

        // The http socket serves the HTTP API.
        let viaHTTP = try await HTTPConnection.withConnection(to: HostPort(host: "127.0.0.1", port: http.port)) {
            try await $0.request(.GET, "/api/v1/status")
        }
        #expect(viaHTTP.status == 200 && viaHTTP.json?["events"]?.integerValue == 1, "\(String(decoding: viaHTTP.body, as: UTF8.self))")

        // The peer socket speaks the peer protocol: the node opens with its hello.
        let hello = try PlainConnection.firstLine(port: peer.port)
        #expect(hello.contains(#""type":"hello""#) && hello.contains(#""node":"activated""#), "\(hello)")

        #expect(await node.stop(signal: SIGTERM) == 0, "log:\n\(String(decoding: FileManager.default.contents(atPath: dir + "/log") ?? Data(), as: UTF8.self))")
        let log = String(decoding: FileManager.default.contents(atPath: dir + "/log") ?? Data(), as: UTF8.self)
        #expect(log.contains("using a socket passed by systemd"))
    }
}

/// A TCP socket bound to 127.0.0.1:0 and listening, kept above fd 100 so that the child's dup2
/// onto 3 and 4 never meets it.
final class ListeningSocket {
    let fd: Int32
    let port: Int

    init() throws {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard s >= 0, bound == 0, listen(s, 16) == 0 else {
            throw TestFailure("listening socket: \(String(cString: strerror(errno)))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        fd = fcntl(s, F_DUPFD_CLOEXEC, 100)
        Glibc.close(s)
    }

    func close() { Glibc.close(fd) }
}

/// incidentd started as systemd starts a socket-activated service.
final class ActivatedProcess: @unchecked Sendable {
    let pid: pid_t
    /// Set once waitpid has collected the exit: the pid may then be another process's, and is
    /// never signalled again.
    private var exitStatus: Int32?

    init(pid: pid_t) { self.pid = pid }

    /// waitpid without blocking: nil while the process runs; once it has exited (and is reaped)
    /// its exit status, or 128 + the signal that ended it (-1 when waitpid fails).
    private func collect() -> Int32? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        guard r != 0 else { return nil }
        exitStatus = r == pid ? ((status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)) : -1
        return exitStatus
    }

    static func spawn(binary: String, arguments: [String], sockets: [Int32], names: [String], log: String) throws -> ActivatedProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (i, fd) in sockets.enumerated() { posix_spawn_file_actions_adddup2(&actions, fd, 3 + Int32(i)) }
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // LISTEN_PID must be the daemon's own pid: the shell sets it to its pid, then execs.
        let argv = ["/bin/sh", "-c", #"LISTEN_PID=$$ exec "$0" "$@""#, binary] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LISTEN_FDS"] = "\(sockets.count)"
        environment["LISTEN_FDNAMES"] = names.joined(separator: ":")
        environment["LISTEN_PID"] = nil
        let envp = environment.map { "\($0.key)=\($0.value)" }
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnvp = envp.map { strdup($0) } + [nil]
        defer { (cArgv + cEnvp).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, cArgv, cEnvp)
        guard rc == 0 else { throw TestFailure("posix_spawn: \(String(cString: strerror(rc)))") }
        return ActivatedProcess(pid: pid)
    }

    func waitForReadyFile(_ path: String, log: String) async throws -> [String: String] {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let data = FileManager.default.contents(atPath: path),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: String]
            {
                return object
            }
            if collect() != nil {
                let text = String(decoding: FileManager.default.contents(atPath: log) ?? Data(), as: UTF8.self)
                throw TestFailure("incidentd exited before it was ready; log:\n\(text)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("incidentd not ready within 30 s")
    }

    /// Sends `signal` and waits (at most 30 s, then SIGKILL) without holding a thread of the
    /// cooperative pool; returns the exit status, or 128 + the signal that ended it.
    @discardableResult
    func stop(signal: Int32) async -> Int32 {
        if let status = collect() { return status }
        kill(pid, signal)
        for _ in 0..<3000 {
            if let status = collect() { return status }
            try? await Task.sleep(for: .milliseconds(10))
        }
        kill9()
        return 128 + SIGKILL
    }

    /// For a `defer`, which cannot await: SIGKILL and reap, unless the process is already reaped.
    func kill9() {
        guard collect() == nil else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        exitStatus = 128 + SIGKILL
    }
}

/// A blocking TCP client for one line, for the peer listener's greeting.
enum PlainConnection {
    static func firstLine(port: Int) throws -> String {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(s) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect: \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while recv(s, &byte, 1, 0) == 1 {
            if byte == UInt8(ascii: "\n") { break }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

import Foundation
import IncidentClient
import IncidentHTTP
import IncidentModel
import IncidentServer
import IncidentTestSupport
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// Helpers of the security tests (tokens, TLS, limits, hostile clients, soak).
enum Security {
    /// Starts a node with a config file (`json`, written beside its data directory) and
    /// environment, runs `body`, stops it and removes its files.
    static func withNode<R>(
        _ id: String = "test", config json: String? = nil, environment: [String: String] = [:], arguments: [String] = ["--fsync", "never"],
        _ body: (TestNode) async throws -> R
    ) async throws -> R {
        let dir = TestNode.temporaryDirectory(prefix: "incidentd-\(id)")
        var args = arguments
        if let json {
            let file = dir + ".json"
            try Data(json.utf8).write(to: URL(fileURLWithPath: file))
            args = ["--config", file] + args
        }
        let node = TestNode(nodeID: id, dataDir: dir, extraArguments: args)
        node.environment = environment
        defer {
            node.discard()
            try? FileManager.default.removeItem(atPath: dir + ".json")
        }
        try await node.start()
        return try await body(node)
    }

    /// The tokens the tests use, and their config entries.
    static let officeToken = "gao-office-7f3c9a1e2b"
    static let hqToken = "bamako-hq-55d1e0c4a9"
    static let readerToken = "observer-0b8e2d6f31"
    /// The node's own digest: its known-answer test is in ClientAuthUnitTests, and
    /// `hashTokenAgreesWithSha256sum` holds `incidentd --hash-token` to sha256sum.
    static func digest(_ token: String) -> String { ClientToken.digest(token) }
    static var tokensJSON: String {
        """
        "tokens": {
          "gao-office": {"sha256": "\(digest(officeToken))", "role": "office", "sectors": ["east", "north"]},
          "hq": {"sha256": "\(digest(hqToken))", "role": "hq"},
          "observer": {"sha256": "\(digest(readerToken))", "role": "reader"}
        }
        """
    }

    /// A config requiring tokens (loopback, anonymous off) plus `extra` members.
    static func tokenConfig(_ extra: String = "") -> String {
        "{\(tokensJSON), \"allow_anonymous_loopback\": false\(extra.isEmpty ? "" : ", " + extra)}"
    }

    static func errorCode(_ line: [UInt8]) -> String? {
        (try? JSONParser.parse(line))?["error"]?["code"]?.stringValue
    }

    /// The node's resident set size in KiB (`VmRSS` of /proc/PID/status).
    static func rssKiB(_ pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    /// Open file descriptors of the process.
    static func openFDs(_ pid: Int32) -> Int? {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd"))?.count
    }

    static func pid(_ node: TestNode) -> Int32 { node.process?.processIdentifier ?? 0 }

    /// Runs an executable beside incidentd (incidentctl, or incidentd itself) with `stdin`,
    /// returning status, stdout and stderr.
    static func run(
        _ name: String, _ arguments: [String], stdin: String = "", environment: [String: String] = [:]
    ) async throws -> ChildProcess.Outcome {
        let beside = URL(fileURLWithPath: TestNode.binaryPath).deletingLastPathComponent().appendingPathComponent(name)
        return try await run(executable: beside.path, arguments, stdin: stdin, environment: environment)
    }

    /// Runs `executable` (a path) with `stdin`, returning status, stdout and stderr. The child
    /// gets the test's environment without `INCIDENTCTL_*`, then `environment`.
    static func run(
        executable: String, _ arguments: [String], stdin: String = "", environment: [String: String] = [:]
    ) async throws -> ChildProcess.Outcome {
        let inherited = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("INCIDENTCTL_") }
        return try await ChildProcess.run(executable, arguments, stdin: stdin, environment: inherited.merging(environment) { _, n in n })
    }

    /// Runs a shell script (bash) in `directory` with `environment`; throws with its output on
    /// failure.
    static func shell(_ script: String, in directory: String, environment: [String: String] = [:]) async throws {
        let run = try await ChildProcess.run(
            "/bin/bash", ["-euo", "pipefail", "-c", script], environment: ProcessInfo.processInfo.environment.merging(environment) { _, n in n },
            directory: directory)
        guard run.status == 0 else {
            throw Fixtures.Problem("script failed (\(run.status)):\n\(script)\n\(run.stdout)\(run.stderr)")
        }
    }

    /// Runs blocking work (raw sockets) on a thread of its own, so that a test never holds one
    /// of the few threads of Swift's cooperative pool while it waits on a socket.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// Samples the node's RSS (KiB) every 50 ms while `body` runs; returns body's result and the peak.
    static func peakRSS<T: Sendable>(_ node: TestNode, during body: () async throws -> T) async throws -> (T, Int) {
        let pid = Security.pid(node)
        let peak = Shared(0)
        let sampler = Task {
            while !Task.isCancelled {
                if let rss = Security.rssKiB(pid) { peak.withLock { $0 = max($0, rss) } }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        defer { sampler.cancel() }
        let result = try await body()
        if let rss = Security.rssKiB(pid) { peak.withLock { $0 = max($0, rss) } }
        return (result, peak.withLock { $0 })
    }

    /// Waits until `condition` holds (polling), or throws after `timeout`.
    static func wait(_ what: String, timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Fixtures.Problem("timed out waiting for \(what)")
    }
}

/// A plain blocking TCP client socket, for clients that misbehave in ways `IncidentConnection`
/// never would: not reading, sending half a line, sending from another loopback address.
final class RawClient: @unchecked Sendable {
    let fd: Int32

    /// Connects to `address`, from `source` (another loopback address, e.g. 127.0.0.2) when given.
    init(_ address: HostPort, source: String? = nil, receiveBuffer: Int? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if let receiveBuffer {
            var size = Int32(receiveBuffer)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw Fixtures.Problem("cannot bind to \(source): errno \(errno)") }
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(address.port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(address.host)
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Fixtures.Problem("cannot connect to \(address): errno \(errno)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        signal(SIGPIPE, SIG_IGN)  // a write to a connection the node closed fails instead
    }

    deinit { close(fd) }

    /// Writes everything; false when the node closed the connection first.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    func send(line: [UInt8]) -> Bool { send(line + [0x0A]) }

    var buffered: [UInt8] = []
    /// Why the last `readLine` returned nil: the node closed (or reset) the connection, or silence.
    var closed = false

    /// The next line (without its newline), or nil at end of stream, reset or after `timeout`.
    func readLine(timeout: Int = 10) -> [UInt8]? {
        setTimeout(timeout)
        while true {
            if let i = buffered.firstIndex(of: 0x0A) {
                let line = Array(buffered[..<i])
                buffered.removeFirst(i + 1)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 {
                closed = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
                return nil
            }
            buffered += chunk[0..<n]
        }
    }

    /// Every line until the node closes the connection (or `timeout` seconds of silence).
    func readAll(timeout: Int = 10) -> (lines: [[UInt8]], closed: Bool) {
        var lines: [[UInt8]] = []
        setTimeout(timeout)
        while true {
            if let line = readLine(timeout: timeout) {
                lines.append(line)
                continue
            }
            return (lines, closed)
        }
    }

    /// Streams `total` bytes of `byte` (no newline) in 64 KiB writes until the node answers with
    /// a line matching `isAnswer` or closes; returns how much had been sent when that happened
    /// and the lines received. Writes never block the check for an answer.
    func flood(_ byte: UInt8, total: Int, until isAnswer: ([UInt8]) -> Bool) -> (sent: Int, lines: [[UInt8]]) {
        let chunk = [UInt8](repeating: byte, count: 64 << 10)
        return pump(total: total, within: .seconds(20), until: isAnswer) { sent in
            chunk.withUnsafeBytes { write(fd, $0.baseAddress, min($0.count, total - sent)) }
        }
    }

    /// Writes `bytes` while reading, as `flood` does, until the node answers with a line matching
    /// `isAnswer` or closes: a node that answers and closes before the whole of `bytes` is in
    /// resets the connection, and an answer not read by then would be lost.
    func stream(_ bytes: [UInt8], until isAnswer: ([UInt8]) -> Bool) -> (sent: Int, lines: [[UInt8]]) {
        pump(total: bytes.count, within: .seconds(60), until: isAnswer) { sent in
            bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, min($0.count, 64 << 10)) }
        }
    }

    /// The loop of `flood` and `stream`: non-blocking, reads whenever there is something to read
    /// (so an answer is never lost behind the writes), writes through `write(sent)` while the
    /// socket takes more, until `total` is sent and answered, the node closes, or `within`.
    private func pump(
        total: Int, within: Duration, until isAnswer: ([UInt8]) -> Bool, write: (Int) -> Int
    ) -> (sent: Int, lines: [[UInt8]]) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        defer { _ = fcntl(fd, F_SETFL, flags) }
        var sent = 0
        var lines: [[UInt8]] = []
        var writable = true
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN) | (writable && sent < total ? Int16(POLLOUT) : 0), revents: 0)
            guard poll(&p, 1, 1000) >= 0 else { break }
            if p.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                var buffer = [UInt8](repeating: 0, count: 65536)
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { return (sent, lines) }
                buffered += buffer[0..<n]
                while let i = buffered.firstIndex(of: 0x0A) {
                    lines.append(Array(buffered[..<i]))
                    buffered.removeFirst(i + 1)
                    if isAnswer(lines.last!) { return (sent, lines) }
                }
            }
            if p.revents & Int16(POLLOUT) != 0 {
                let n = write(sent)
                if n < 0 && errno != EAGAIN { writable = false } else if n > 0 { sent += n }
            }
        }
        return (sent, lines)
    }

    func setTimeout(_ seconds: Int) {
        var t = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// Event lines as an origin writes them, for bundles sent through `ingest`.
enum Bundles {
    /// Events 1…n of `origin`, chained; signed by `signer` at the seqs in `signedAt`. `padding`
    /// bytes of filler in each event's data make the lines longer.
    static func chain(_ origin: String, _ n: Int, signer: NodeIdentity, signedAt: Set<Int>, padding: Int = 0) -> [[UInt8]] {
        var prev: EventHash? = nil
        let filler = String(repeating: "x", count: padding)
        return (1...n).map { seq in
            let data = padding > 0 ? "{\"incident_id\":\"\(origin)-\(seq)\",\"note\":\"\(filler)\"}" : "{\"incident_id\":\"\(origin)-\(seq)\"}"
            let draft = Event.Draft(
                origin: origin, seq: UInt64(seq), prev: prev, hlc: HLCTimestamp(wallMillis: 1_764_374_400_000 + UInt64(seq), counter: 0),
                recordedAtMillis: 1_764_374_400_000, type: "incident.reported", sector: "east", data: Array(data.utf8))
            let e = Event.encode(draft, signer: signedAt.contains(seq) ? signer.privateKey : nil)
            prev = e.hash
            return e.line
        }
    }

    /// `line` with one byte of its data changed (the hash no longer matches).
    static func corrupted(_ line: [UInt8]) -> [UInt8] {
        var out = line
        let at = Array("\"incident_id\":\"".utf8)
        let start = (0...(line.count - at.count)).first { Array(line[$0..<($0 + at.count)]) == at }! + at.count
        out[start] = out[start] == UInt8(ascii: "Z") ? UInt8(ascii: "Y") : UInt8(ascii: "Z")
        return out
    }

    /// Interleaves `a` and `b` (one of each in turn), keeping each one's order.
    static func interleave(_ a: [[UInt8]], _ b: [[UInt8]]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for i in 0..<max(a.count, b.count) {
            if i < a.count { out.append(a[i]) }
            if i < b.count { out.append(b[i]) }
        }
        return out
    }
}

extension Security {
    /// `withNode` for a node in the test's process (IncidentTestSupport's `withNode`): the same
    /// config file, `INCIDENTD_*` config variables and flags, without a process to start and
    /// poll. For tests that need no process (no pid, RSS, signals or exit status). The node
    /// records its metrics into a registry of its own (`NodeMetrics.standalone`); with
    /// `serveHTTP`, the HTTP listener runs as incidentd runs it and serves that registry at
    /// `/metrics`, which so holds this node's figures and no other's.
    static func inProcess<R: Sendable>(
        _ id: String = "test", config json: String? = nil, environment: [String: String] = [:], arguments: [String] = ["--fsync", "never"],
        serveHTTP: Bool = false, _ body: (InProcessNode) async throws -> R
    ) async throws -> R {
        var file: String? = nil
        if let json {
            let dir = TestNode.temporaryDirectory(prefix: "config-\(id)")
            file = dir + "/config.json"
            try Data(json.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))
        }
        defer { if let file { try? FileManager.default.removeItem(atPath: (file as NSString).deletingLastPathComponent) } }
        let metrics = NodeMetrics.standalone()
        return try await withInProcessNode(
            nodeID: id, configFile: file, environment: environment, arguments: arguments,
            http: serveHTTP ? { @Sendable context in HTTPListener(context, metrics: metrics) } : nil, metricsFactory: metrics.factory, body)
    }
}

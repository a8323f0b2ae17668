import Foundation
import IncidentTestSupport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A Unix datagram socket standing in for systemd's NOTIFY_SOCKET: a thread receives every
/// datagram the node sends and keeps it with the time it arrived.
final class NotifySocket: Sendable {
    struct Message: Sendable, CustomStringConvertible {
        var at: ContinuousClock.Instant
        var text: String
        /// `KEY=VALUE` lines of the datagram.
        var fields: [String: String] {
            var out: [String: String] = [:]
            for line in text.split(separator: "\n") {
                guard let eq = line.firstIndex(of: "=") else { continue }
                out[String(line[..<eq])] = String(line[line.index(after: eq)...])
            }
            return out
        }
        func has(_ key: String, _ value: String? = nil) -> Bool {
            guard let v = fields[key] else { return false }
            return value == nil || v == value
        }
        var description: String { text.replacingOccurrences(of: "\n", with: "\\n") }
    }

    let directory: String
    let path: String
    let fd: Int32
    let received = Mutex<[Message]>([])
    let closed = Atomic<Bool>(false)
    let stopped = DispatchSemaphore(value: 0)

    init() throws {
        directory = TestNode.temporaryDirectory(prefix: "notify")
        path = directory + "/notify.sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes.prefix(raw.count - 1))
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw TestFailure("bind \(path): \(String(cString: strerror(errno)))") }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let thread = Thread { [self] in receiveLoop() }
        thread.start()
    }

    func receiveLoop() {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while !closed.load(ordering: .relaxed) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                let message = Message(at: .now, text: String(decoding: buffer[0..<n], as: UTF8.self))
                received.withLock { $0.append(message) }
            }
        }
        stopped.signal()
    }

    var messages: [Message] { received.withLock { $0 } }

    /// Waits until `done` holds for the messages so far; throws with them on timeout.
    @discardableResult
    func wait(timeout: Duration = .seconds(15), until done: ([Message]) -> Bool) async throws -> [Message] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let all = messages
            if done(all) { return all }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("notifications not as expected within \(timeout): \(messages)")
    }

    func close() {
        closed.store(true, ordering: .relaxed)
        stopped.wait()
        Glibc.close(fd)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension Array where Element == NotifySocket.Message {
    /// The index of the first message at or after `start` with `key` (= `value`).
    func firstIndex(from start: Int, _ key: String, _ value: String? = nil) -> Int? {
        guard start <= count else { return nil }
        return self[start...].firstIndex { $0.has(key, value) }
    }
}

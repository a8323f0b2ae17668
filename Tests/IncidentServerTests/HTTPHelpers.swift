import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import NIOHTTP1
import Testing
import Wire

/// Helpers of the HTTP listener's tests: a node with `--http-listen 127.0.0.1:0`, requests on
/// fresh connections, and the event stream's frames.
enum HTTP {
    /// `Security.withNode` with the HTTP listener on.
    static func withNode<R>(
        _ id: String = "test", config: String? = nil, arguments: [String] = ["--fsync", "never"], _ body: (TestNode) async throws -> R
    ) async throws -> R {
        try await Security.withNode(id, config: config, arguments: arguments + ["--http-listen", "127.0.0.1:0"], body)
    }

    /// `Security.inProcess` with the HTTP listener on, as incidentd runs it, with metrics of its
    /// own (`NodeMetrics.standalone`): its `/metrics` holds what this node recorded and read,
    /// and nothing of any other node in the test process.
    static func inProcess<R: Sendable>(
        _ id: String = "test", config: String? = nil, arguments: [String] = ["--fsync", "never"], _ body: (InProcessNode) async throws -> R
    ) async throws -> R {
        try await Security.inProcess(id, config: config, arguments: arguments + ["--http-listen", "127.0.0.1:0"], serveHTTP: true, body)
    }

    static func address(_ node: some NodeUnderTest) throws -> HostPort {
        guard let http = node.http else { throw Fixtures.Problem("the node reported no http address") }
        return http
    }

    /// One request on its own connection, with `token` as bearer when given.
    static func request(
        _ node: some NodeUnderTest, _ method: HTTPMethod = .GET, _ path: String, token: String? = nil, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) async throws -> HTTPConnection.Answer {
        var all = headers
        if let token { all.append(("Authorization", "Bearer \(token)")) }
        return try await HTTPConnection.withConnection(to: try address(node)) { c in
            try await c.request(method, path, headers: all, body: body)
        }
    }

    /// Runs `body`; when it throws, records the last lines of the node's log with the error
    /// (what the node saw of a connection it closed).
    static func withLogOnFailure<R>(_ node: some NodeUnderTest, _ body: () async throws -> R) async throws -> R {
        do {
            return try await body()
        } catch {
            Issue.record("\(error); the node's log ends:\n\(node.log.split(separator: "\n").suffix(10).joined(separator: "\n"))")
            throw error
        }
    }

    /// Events held by the node, read with the hq token (or anonymously).
    static func eventCount(_ node: some NodeUnderTest, token: String? = nil) async throws -> Int {
        let answer = try await request(node, .GET, "/api/v1/status", token: token)
        guard let n = answer.json?["events"]?.integerValue else { throw Fixtures.Problem("status: \(String(decoding: answer.body, as: UTF8.self))") }
        return Int(n)
    }

    /// One frame of the event stream.
    struct Frame: Equatable {
        var id: String?
        var event: String?
        var data: String
    }

    /// Cuts a stream's bytes into frames (comments dropped); returns the frames and what is left.
    static func frames(_ bytes: [UInt8]) -> (frames: [Frame], rest: [UInt8]) {
        var frames: [Frame] = []
        var text = String(decoding: bytes, as: UTF8.self)[...]
        while let end = text.range(of: "\n\n") {
            let block = text[..<end.lowerBound]
            text = text[end.upperBound...]
            var frame = Frame(data: "")
            var any = false
            for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix(":") { continue }
                any = true
                if line.hasPrefix("id: ") { frame.id = String(line.dropFirst(4)) }
                if line.hasPrefix("event: ") { frame.event = String(line.dropFirst(7)) }
                if line.hasPrefix("data: ") { frame.data += line.dropFirst(6) }
            }
            if any { frames.append(frame) }
        }
        return (frames, Array(text.utf8))
    }

    /// Reads the stream on `connection` (head already read) until `enough` holds for the frames
    /// so far, or the stream ends. Each read waits for the node; the tests bound the whole with
    /// their time limit.
    /// With `pause`, it waits that long after each part it reads: a slow reader.
    static func readFrames(
        _ connection: HTTPConnection, pause: Duration? = nil, until enough: ([Frame]) -> Bool
    ) async throws -> (frames: [Frame], ended: Bool) {
        var frames: [Frame] = []
        var pending: [UInt8] = []
        while true {
            if let pause, !pending.isEmpty || !frames.isEmpty { try await Task.sleep(for: pause) }
            let part: [UInt8]?
            do {
                part = try await connection.readBodyPart()
            } catch ClientError.connectionClosed {
                return (frames, true)
            }
            guard let part else { return (frames, true) }
            let cut = Self.frames(pending + part)
            frames += cut.frames
            pending = cut.rest
            if enough(frames) { return (frames, false) }
        }
    }
}

extension HTTP {
    /// The repository's root, from this file's path (Tests/IncidentServerTests/…).
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The first of `candidates` that is an executable file.
    static func find(_ candidates: [String]) -> String? {
        candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

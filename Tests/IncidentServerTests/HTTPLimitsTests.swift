import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import NIOHTTP1
import Testing

/// The HTTP listener holds connections to the client API's limits, each with its own code
/// (docs/HTTP.md, "Limits"): request heads in time, idle connections, request bodies, request
/// rate, connections per address, malformed and oversized heads.
@Suite("HTTP listener limits", .timeLimit(.minutes(2)))
struct HTTPLimitsTests {
    /// Everything the node sends until it closes (or 10 s of silence), as text: the lines and
    /// what follows the last newline (a response body has none).
    static func readToClose(_ client: RawClient) -> (text: String, closed: Bool) {
        let (lines, closed) = client.readAll(timeout: 10)
        return ((lines + [client.buffered]).map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n"), closed)
    }

    static func expectRefusal(_ text: String, status: String, code: String, _ comment: Comment? = nil) {
        #expect(text.hasPrefix("HTTP/1.1 \(status)"), "\(comment?.description ?? ""): \(text)")
        #expect(text.contains(#""code":"\#(code)""#), "\(comment?.description ?? ""): \(text)")
    }

    @Test("a connection that sends no whole request head in time, or none after a response, is answered idle_timeout and closed")
    func timeouts() async throws {
        try await HTTP.inProcess(config: #"{"handshake_timeout_ms": 300, "idle_timeout_ms": 500}"#) { node in
            let address = try HTTP.address(node)
            let a = try await Security.blocking { Self.readToClose(try RawClient(address)) }
            Self.expectRefusal(a.text, status: "408", code: "idle_timeout", "silent")
            #expect(a.closed)

            // A head trickled in and never finished counts from the connect, not from its last byte.
            let trickle = try RawClient(address)
            for part in ["GET /api/v1/status HTTP/1.1\r\n", "Host: x\r\n", "X-A: 1\r\n"] {
                trickle.send(Array(part.utf8))
                try await Task.sleep(for: .milliseconds(120))
            }
            let b = try await Security.blocking { Self.readToClose(trickle) }
            Self.expectRefusal(b.text, status: "408", code: "idle_timeout", "trickled head")

            // After a response: idle_timeout_ms.
            let c = try await Security.blocking {
                let idle = try RawClient(address)
                idle.send(Array("GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                return Self.readToClose(idle)
            }
            #expect(c.text.hasPrefix("HTTP/1.1 200 OK"), "\(c.text)")
            #expect(c.text.contains("HTTP/1.1 408 Request Timeout") && c.text.contains(#""code":"idle_timeout""#), "\(c.text)")
            #expect(c.closed)
        }
    }

    @Test("a request body over max_line_bytes is answered line_too_long (413) and nothing is written")
    func bodySize() async throws {
        try await HTTP.inProcess(config: #"{"max_line_bytes": 2048}"#) { node in
            let big =
                Array(#"{"event":{"type":"polling_station.status","sector":"east","data":{"station_id":"GAO-1","name":""#.utf8)
                + [UInt8](repeating: UInt8(ascii: "x"), count: 4000) + Array(#"","status":"open"}}}"#.utf8)
            let declared = try await HTTP.request(node, .POST, "/api/v1/events", body: big)
            #expect(declared.status == 413 && declared.errorCode == "line_too_long", "\(String(decoding: declared.body, as: UTF8.self))")
            // Chunked, without a length: cut off at the limit as it arrives.
            let address = try HTTP.address(node)
            let chunked = try await Security.blocking {
                let client = try RawClient(address)
                let chunk = String(big.count, radix: 16)
                client.send(Array("POST /api/v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\(chunk)\r\n".utf8) + big + Array("\r\n0\r\n\r\n".utf8))
                return Self.readToClose(client)
            }
            Self.expectRefusal(chunked.text, status: "413", code: "line_too_long", "chunked")
            #expect(chunked.closed, "the connection is closed after the refusal, whatever of the body is still coming")
            #expect(try await HTTP.eventCount(node) == 0)
        }
    }

    @Test("requests over the connection's rate are answered rate_limited (429) and not run")
    func rate() async throws {
        try await HTTP.inProcess(config: #"{"requests_per_second": 1, "request_burst": 2}"#) { node in
            // Ten appends pipelined: the bucket holds two and gains one a second, so some of
            // them are refused however slowly a loaded machine passes them to the node.
            let body = Array(#"{"event":{"type":"polling_station.status","sector":"east","data":{"station_id":"GAO-1","name":"Ecole","status":"open"}}}"#.utf8)
            let answers = try await HTTPConnection.withConnection(to: try HTTP.address(node)) { c in
                for _ in 0..<10 { try await c.send(.POST, "/api/v1/events", body: body) }
                var answers: [(status: Int, code: String?)] = []
                for _ in 0..<10 {
                    let status = try await c.readHead().status
                    var bytes: [UInt8] = []
                    while let part = try await c.readBodyPart() { bytes += part }
                    answers.append((status, (try? JSONParser.parse(bytes))?["error"]?["code"]?.stringValue))
                }
                return answers
            }
            let refused = answers.filter { $0.status == 429 }
            #expect(!refused.isEmpty, "\(answers.map(\.status))")
            #expect(refused.allSatisfy { $0.code == "rate_limited" })
            #expect(Array(answers.prefix(2).map(\.status)) == [200, 200], "the burst")
            #expect(try await HTTP.eventCount(node) == answers.filter { $0.status == 200 }.count, "a refused append was not run")
        }
    }

    @Test("past max_connections_per_address a new connection is answered too_many_connections (503) and closed")
    func connections() async throws {
        try await HTTP.inProcess(config: #"{"max_connections_per_address": 2}"#) { node in
            let address = try HTTP.address(node)
            let held = [try RawClient(address), try RawClient(address)]
            try await Task.sleep(for: .milliseconds(100))
            let refused = try await Security.blocking { Self.readToClose(try RawClient(address)) }
            Self.expectRefusal(refused.text, status: "503", code: "too_many_connections")
            #expect(refused.closed)
            // A held slot still serves.
            let served = try await Security.blocking {
                held[0].send(Array("GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                return held[0].readLine().map { String(decoding: $0, as: UTF8.self) }
            }
            #expect(served == "HTTP/1.1 200 OK\r")
        }
    }

    @Test("a malformed request is answered invalid_request (400), an oversized head line_too_long (431)")
    func malformed() async throws {
        try await HTTP.inProcess { node in
            let address = try HTTP.address(node)
            let garbage = try await Security.blocking {
                let garbage = try RawClient(address)
                garbage.send(Array("NOT AN HTTP REQUEST\r\n\r\n".utf8))
                return Self.readToClose(garbage).text
            }
            Self.expectRefusal(garbage, status: "400", code: "invalid_request")
            let text = try await Security.blocking {
                let long = try RawClient(address)
                let header = "X-Long: " + String(repeating: "a", count: 100 * 1024) + "\r\n"
                let sent = long.stream(Array("GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\(header)\r\n".utf8)) { _ in false }
                return (sent.lines.map { String(decoding: $0, as: UTF8.self) } + [Self.readToClose(long).text]).joined(separator: "\n")
            }
            Self.expectRefusal(text, status: "431", code: "line_too_long")
        }
    }

    /// A client that sends requests and reads none of the answers: once the connection has taken
    /// nothing for `slow_consumer_timeout_ms` while answers wait, the node closes it and counts a
    /// `slow_consumer`; the node goes on serving others.
    @Test("a client that reads none of its answers is closed and counted as slow_consumer")
    func unreadAnswers() async throws {
        try await HTTP.inProcess(config: #"{"slow_consumer_timeout_ms": 500}"#) { node in
            try await HTTPStreamTests.append(node, (0..<1000).map { HTTPStreamTests.polling("GAO-\($0)", sector: "east") })
            let address = try HTTP.address(node)
            try await HTTPConnection.withConnection(to: address, receiveBufferBytes: 4096) { c in
                // 60 reads of ~600 KB each, pipelined, none read: far more than the buffers on the way.
                for _ in 0..<60 { try await c.send(.GET, "/api/v1/events?from=0&limit=1000") }
                try await HTTP.withLogOnFailure(node) {
                    try await Security.wait("the node to close the connection", timeout: .seconds(30)) {
                        let metrics = try await HTTP.request(node, .GET, "/metrics")
                        return String(decoding: metrics.body, as: UTF8.self).contains(#"incidentlog_client_errors_total{code="slow_consumer"} 1"#)
                    }
                }
            }
            #expect(try await HTTP.eventCount(node) == 1000, "the node goes on")
        }
    }
}

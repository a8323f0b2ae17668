import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing
import Wire

#if canImport(Glibc)
import Glibc
#endif

@Suite("Client protocol against a node")
struct ClientProtocolTests {
    @Test func appendedEventReadsBackByIdAndOffset() async throws {
        try await withInProcessNode(nodeID: "gao") { node in
            try await IncidentConnection.withConnection(to: node.client) { c in
                let r = try await c.request(Requests.append(eventObjects: [Fixtures.incident("a1"), Fixtures.incident("a2")]))
                #expect(r["ids"] == .array([.string("gao:1"), .string("gao:2")]))
                #expect(r["first_offset"]?.integerValue == 0)

                let got = try await c.request(Requests.get(id: "gao:2"))
                #expect(got["event"]?["data"]?["incident_id"]?.stringValue == "a2")
                #expect(got["event"]?["origin"]?.stringValue == "gao")

                let status = try await c.request(Requests.status)
                #expect(status["events"]?.integerValue == 2)
                #expect(status["vector"]?["gao"]?.integerValue == 2)
            }
            let lines = try await Fixtures.export(node.client)
            let events = try Fixtures.verifyChains(lines)
            #expect(events.map(\.id) == ["gao:1", "gao:2"])
            // The last event of the commit is signed with the key the node reports.
            let status = try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
            let key = try #require(NodeIdentity.publicKey(base64: status["public_key"]?.stringValue ?? ""))
            #expect(events[1].signatureIsValid(publicKey: key))
        }
    }

    @Test func malformedLinesGetTheirErrorAndTheConnectionGoesOn() async throws {
        try await withInProcessNode { node in
            try await IncidentConnection.withConnection(to: node.client) { c in
                try await c.send(Array("this is not json".utf8))
                #expect(try errorCode(await c.receive()) == "invalid_json")
                try await c.send(Array("{\"op\":\"launch\"}".utf8))
                #expect(try errorCode(await c.receive()) == "unknown_request")
                try await c.send(Array("[1,2]".utf8))
                #expect(try errorCode(await c.receive()) == "invalid_request")
                try await c.send(Requests.get(id: "test:99"))
                #expect(try errorCode(await c.receive()) == "not_found")
                // Same connection still appends.
                let r = try await c.request(Requests.append(eventObjects: [Fixtures.incident("after-errors")]))
                #expect(r["ids"] == .array([.string("test:1")]))
            }
        }
    }

    @Test func invalidEventIsRefusedWithItsFieldAndNothingIsWritten() async throws {
        try await withInProcessNode { node in
            try await IncidentConnection.withConnection(to: node.client) { c in
                let bad = Array(
                    #"{"type":"incident.reported","sector":"east","data":{"incident_id":"x","category":"ied","summary":"s","occurred_at":"2026-11-28T06:40:00Z","location":{"lat":16.1}}}"#
                        .utf8)
                // A batch with one bad event is refused whole: appends are atomic.
                try await c.send(Requests.append(eventObjects: [Fixtures.incident("good"), bad]))
                let line = try await c.receive()
                #expect(try errorCode(line) == "invalid_event")
                let json = try JSONParser.parse(line)
                #expect(json["error"]?["field"]?.stringValue == "events[1].data.location.name")
                #expect(json["error"]?["message"]?.stringValue == "events[1].data.location.name: required")
                let status = try await c.request(Requests.status)
                #expect(status["events"]?.integerValue == 0)
            }
        }
    }

    @Test func oversizeLineIsRefusedThenClosedAndTheNodeGoesOn() async throws {
        try await withInProcessNode { node in
            try await IncidentConnection.withConnection(to: node.client) { c in
                var huge = Array("{\"op\":\"status\",\"pad\":\"".utf8)
                huge += [UInt8](repeating: UInt8(ascii: "x"), count: (1 << 20) + 10)
                huge += Array("\"}".utf8)
                try await c.send(huge)
                #expect(try errorCode(await c.receive()) == "line_too_long")
                await #expect(throws: ClientError.self) { _ = try await c.receive() }
            }
            // Other connections are unaffected.
            let status = try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
            #expect(status["node"]?.stringValue == "test")
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        try await withInProcessNode { node in
            try await IncidentConnection.withConnection(to: node.client) { c in
                let requests = (0..<20).map { i in
                    i % 5 == 4 ? Requests.get(id: "test:1") : Requests.append(eventObjects: [Fixtures.incident("p\(i)")])
                }
                try await c.send(lines: requests)
                var seqs: [String] = []
                for i in 0..<20 {
                    let r = try IncidentConnection.decode(try await c.receive())
                    if i % 5 != 4 { seqs.append(r["ids"]?.arrayValue?.first?.stringValue ?? "") }
                }
                #expect(seqs == (1...16).map { "test:\($0)" })
            }
        }
    }

    /// Long lines (over the node's inline limit, parsed off the event loop while the append
    /// before them commits) pipelined with short ones: answered in order, a refused long append
    /// among them stores nothing, and a long `status` after them sees every append sent before it.
    @Test func pipelinedLongLinesAreAnsweredInOrder() async throws {
        let perAppend = 80
        func longAppend(_ name: String, bad: Bool = false) -> [UInt8] {
            var events = (0..<perAppend).map { Fixtures.incident("\(name)-\($0)") }
            if bad { events[perAppend / 2] = Array(#"{"type":"incident.nope","sector":"east","data":{}}"#.utf8) }
            return Requests.append(eventObjects: events)
        }
        let longStatus = Array((#"{"op":"status""# + String(repeating: " ", count: 20_000) + "}").utf8)
        let lines = [longAppend("a"), longAppend("b", bad: true), longAppend("c"), longStatus, Requests.append(eventObjects: [Fixtures.incident("d")])]
        #expect(lines[0].count > 16 * 1024 && lines[1].count > 16 * 1024)
        try await withInProcessNode { node in
            try await IncidentConnection.withConnection(to: node.client) { c in
                try await c.send(lines: lines)
                let first = try IncidentConnection.decode(try await c.receiveResponse())
                #expect(first["ids"]?.arrayValue?.count == perAppend && first["first_offset"]?.integerValue == 0)
                #expect(try errorCode(try await c.receiveResponse()) == "invalid_event")
                let third = try IncidentConnection.decode(try await c.receiveResponse())
                #expect(third["first_offset"]?.integerValue == Int64(perAppend))
                let status = try IncidentConnection.decode(try await c.receiveResponse())
                #expect(status["events"]?.integerValue == Int64(2 * perAppend))
                let last = try IncidentConnection.decode(try await c.receiveResponse())
                #expect(last["first_offset"]?.integerValue == Int64(2 * perAppend))
            }
        }
    }

    func errorCode(_ line: [UInt8]) throws -> String? {
        try JSONParser.parse(line)["error"]?["code"]?.stringValue
    }
}

@Suite("Client protocol: half-close")
struct HalfCloseTests {
    /// A client that sends its requests and shuts down its writing side (`nc -N`) still gets every
    /// answer before the node closes.
    @Test func halfClosedClientGetsEveryAnswer() async throws {
        try await withInProcessNode { node in
            let port = node.client.port
            // The socket's reads wait: on a thread of their own, not the pool the node runs on.
            let (connected, received) = try await Security.blocking { () -> (Int32, [UInt8]) in
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                defer { close(fd) }
                var addr = sockaddr_in()
                addr.sin_family = sa_family_t(AF_INET)
                addr.sin_port = in_port_t(UInt16(port).bigEndian)
                addr.sin_addr.s_addr = inet_addr("127.0.0.1")
                let connected = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                var request: [UInt8] = []
                for i in 0..<5 { request += Requests.append(eventObjects: [Fixtures.incident("hc\(i)")]) + [0x0A] }
                request += Requests.status + [0x0A]
                _ = request.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                shutdown(fd, Int32(SHUT_WR))
                var received: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n <= 0 { break }
                    received += chunk[0..<n]
                }
                return (connected, received)
            }
            #expect(connected == 0)
            let lines = received.split(separator: 0x0A)
            #expect(lines.count == 6)
            let status = try JSONParser.parse(Array(lines.last ?? []))
            #expect(status["events"]?.integerValue == 5)
        }
    }
}

@Suite("Pipelined appends")
struct PipelinedAppendTests {
    /// Appends a client pipelines on one connection (sent in one write) are answered in order,
    /// each with the next offset, and are committed together: the node does not wait for one
    /// append's fdatasync before it submits the next, so there are far fewer fdatasyncs than
    /// appends.
    @Test func pipelinedAppendsAreAnsweredInOrderAndCommittedTogether() async throws {
        let n = 40
        try await HTTP.inProcess("pipe", arguments: ["--fsync", "always"]) { node in
            try await IncidentConnection.withConnection(to: node.client) { c in
                try await c.send(lines: (0..<n).map { Requests.append(eventObjects: [Fixtures.incident("pipe\($0)")]) })
                for i in 0..<n {
                    let r = try IncidentConnection.decode(try await c.receiveResponse())
                    #expect(r["ids"] == .array([.string("pipe:\(i + 1)")]))
                    #expect(r["first_offset"]?.integerValue == Int64(i))
                }
            }
            let metrics = String(decoding: try await HTTP.request(node, .GET, "/metrics").body, as: UTF8.self)
            let line = try #require(metrics.split(separator: "\n").first { $0.hasPrefix("incidentlog_fsync_duration_seconds_count ") })
            let fsyncs = try #require(Int(line.split(separator: " ").last ?? ""))
            #expect(fsyncs >= 1 && fsyncs <= n / 2, "\(fsyncs) fdatasyncs for \(n) pipelined appends")
        }
    }
}

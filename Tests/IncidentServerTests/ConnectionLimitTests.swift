import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing
import Wire

/// The limits of the client API against a real node, each with its own error code (see
/// ConnectionLimits.swift): connections, request rate, handshake and idle time, unread output,
/// appends faster than the disk. The node stays up and other connections carry on.
@Suite("Client connection limits")
struct ConnectionLimitTests {
    func status(_ node: some NodeUnderTest) async throws -> JSONValue {
        try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
    }

    /// Opens a connection and checks it is served (so the node has counted it).
    func served(_ node: some NodeUnderTest, from source: String) throws -> RawClient {
        let c = try RawClient(node.client, source: source)
        guard c.send(line: Requests.status), let line = c.readLine(), Security.errorCode(line) == nil else {
            throw Fixtures.Problem("connection from \(source) not served")
        }
        return c
    }

    func refused(_ node: some NodeUnderTest, from source: String) throws -> Bool {
        let c = try RawClient(node.client, source: source)
        let (lines, closed) = c.readAll(timeout: 5)
        return lines.count == 1 && Security.errorCode(lines[0]) == "too_many_connections" && closed
    }

    @Test func appendOverMaxEventsIsRefusedAndNothingWritten() async throws {
        try await Security.inProcess(environment: ["INCIDENTD_MAX_EVENTS_PER_APPEND": "3"]) { node in
            try await IncidentConnection.withConnection(to: node.client) { c in
                try await c.send(Requests.append(eventObjects: (0..<4).map { Fixtures.incident("many-\($0)") }))
                #expect(Security.errorCode(try await c.receive()) == "too_many_events")
                #expect(try await c.request(Requests.append(eventObjects: (0..<3).map { Fixtures.incident("few-\($0)") }))["ids"]?.arrayValue?.count == 3)
            }
            #expect(try await status(node)["events"]?.integerValue == 3)
        }
    }

    @Test func connectionsOverTheLimitsAreAnsweredThenClosed() async throws {
        let environment = ["INCIDENTD_MAX_CONNECTIONS": "4", "INCIDENTD_MAX_CONNECTIONS_PER_ADDRESS": "2"]
        try await Security.inProcess(environment: environment) { node in
            try await Security.blocking {
                var first: RawClient? = try self.served(node, from: "127.0.0.1")
                let second = try self.served(node, from: "127.0.0.1")
                #expect(try self.refused(node, from: "127.0.0.1"), "a third from one address")
                let others = [try self.served(node, from: "127.0.0.2"), try self.served(node, from: "127.0.0.2")]
                #expect(try self.refused(node, from: "127.0.0.3"), "a fifth in total")
                // Closing one makes room again.
                first = nil
                var again: RawClient? = nil
                for _ in 0..<40 where again == nil {
                    again = try? self.served(node, from: "127.0.0.1")
                    if again == nil { usleep(50_000) }
                }
                #expect(again != nil)
                // Open until here: an optimized build may end a value's life at its last use,
                // and a client's deinit closes its socket.
                withExtendedLifetime((first, second, others)) {}
            }
            #expect(node.log.contains("too many client connections"))
        }
    }

    /// Every loopback client shares 127.0.0.1: connections that never authenticate fill the
    /// per-address limit, yet a real client (anonymous hq on loopback, or with a token) is served
    /// every time, each arrival pushing out the oldest idle connection.
    @Test(arguments: [false, true])
    func idleConnectionsDoNotLockOutARealClient(withToken: Bool) async throws {
        let config = withToken ? Security.tokenConfig() : nil
        try await Security.inProcess(config: config) { node in
            let idle = try await Security.blocking { try (0..<64).map { _ in try RawClient(node.client) } }
            let endpoint = IncidentEndpoint(node.client, token: withToken ? Security.officeToken : nil)
            var served = 0
            for _ in 0..<20 {
                let status = try? await IncidentConnection.withConnection(to: endpoint) { try await $0.request(Requests.status) }
                if status?["node"]?.stringValue == "test" { served += 1 }
            }
            #expect(served == 20, "a real client served 20 times out of 20")
            // The oldest idle ones made room: answered, then closed (on a machine slow enough,
            // its handshake or idle timeout may have closed the oldest before a newcomer pushed it out).
            let pushedOut = try await Security.blocking { idle[0].readAll(timeout: 5) }
            #expect(pushedOut.closed && pushedOut.lines.count == 1)
            #expect(["too_many_connections", "handshake_timeout", "idle_timeout"].contains(pushedOut.lines.first.flatMap(Security.errorCode) ?? "-"))
            #expect(node.log.contains("closing the oldest unauthenticated connection"))
        }
    }

    @Test func requestFloodIsRateLimitedAndTheConnectionGoesOn() async throws {
        let environment = ["INCIDENTD_REQUESTS_PER_SECOND": "10", "INCIDENTD_REQUEST_BURST": "10"]
        try await Security.inProcess(environment: environment) { node in
            let started = ContinuousClock.now
            let answers = try await Security.blocking { () -> [[UInt8]] in
                let c = try RawClient(node.client)
                var flood: [UInt8] = []
                for i in 0..<100 { flood += Requests.append(eventObjects: [Fixtures.incident("flood-\(i)")]) + [0x0A] }
                #expect(c.send(flood))
                return (0..<100).compactMap { _ in c.readLine() }
            }
            let elapsed = Double((ContinuousClock.now - started).components.seconds) + 1
            let ok = answers.filter { Security.errorCode($0) == nil }.count
            let limited = answers.filter { Security.errorCode($0) == "rate_limited" }.count
            #expect(answers.count == 100, "every request answered")
            #expect(ok + limited == 100)
            #expect(ok >= 10 && Double(ok) <= 10 + 10 * elapsed, "the burst, then 10 a second: \(ok)")
            #expect(try await status(node)["events"]?.integerValue == Int64(ok), "a rate-limited append is not run")
            // The connection goes on once the bucket refills.
            let later = try await Security.blocking { () -> String? in
                let c = try RawClient(node.client)
                for _ in 0..<10 { _ = c.send(line: Requests.status) }
                for _ in 0..<10 { _ = c.readLine() }
                usleep(1_200_000)
                _ = c.send(line: Requests.status)
                return Security.errorCode(c.readLine() ?? [0])
            }
            #expect(later == nil)
        }
    }

    /// Half a line then silence: the handshake timeout closes a connection that never completed
    /// a request, the idle timeout one that did; a client that keeps talking is never cut off.
    @Test func halfALineThenSilenceIsClosedByTheIdleTimeout() async throws {
        let environment = ["INCIDENTD_HANDSHAKE_TIMEOUT_MS": "2000", "INCIDENTD_IDLE_TIMEOUT_MS": "3000"]
        try await Security.inProcess(environment: environment) { node in
            async let never = Security.blocking { () -> ([[UInt8]], Bool, Duration) in
                let c = try RawClient(node.client)
                let start = ContinuousClock.now
                _ = c.send(Array(#"{"op":"sta"#.utf8))
                let (lines, closed) = c.readAll(timeout: 8)
                return (lines, closed, ContinuousClock.now - start)
            }
            async let later = Security.blocking { () -> ([[UInt8]], Bool, Duration) in
                let c = try RawClient(node.client)
                _ = c.send(line: Requests.status)
                _ = c.readLine()
                let start = ContinuousClock.now
                _ = c.send(Array(#"{"op":"get","id":"#.utf8))
                let (lines, closed) = c.readAll(timeout: 8)
                return (lines, closed, ContinuousClock.now - start)
            }
            async let chatty = Security.blocking { () -> Int in
                let c = try RawClient(node.client)
                var answered = 0
                for _ in 0..<20 {
                    _ = c.send(line: Requests.status)
                    if let line = c.readLine(), Security.errorCode(line) == nil { answered += 1 }
                    usleep(250_000)
                }
                return answered
            }
            let (neverLines, neverClosed, neverAfter) = try await never
            #expect(neverLines.count == 1 && Security.errorCode(neverLines[0]) == "idle_timeout")
            #expect(String(decoding: neverLines.first ?? [], as: UTF8.self).contains("no authenticated request within"))
            #expect(neverClosed && neverAfter >= .milliseconds(1950) && neverAfter < .seconds(8), "\(neverAfter)")
            let (laterLines, laterClosed, laterAfter) = try await later
            #expect(laterLines.count == 1 && Security.errorCode(laterLines[0]) == "idle_timeout")
            #expect(String(decoding: laterLines.first ?? [], as: UTF8.self).contains("no request for"))
            #expect(laterClosed && laterAfter >= .milliseconds(2950) && laterAfter < .seconds(8), "\(laterAfter)")
            #expect(try await chatty == 20, "a client that keeps talking is served throughout")
            #expect(try await status(node)["node"]?.stringValue == "test")
        }
    }

    /// A client that pipelines big reads and never reads the answers: the node stops reading its
    /// requests once `max_pending_output_bytes` are unread, answers `slow_consumer` and closes
    /// after `slow_consumer_timeout_ms`; its memory stays bounded meanwhile.
    @Test func clientThatDoesNotReadIsCutOffAsSlowConsumerInBoundedMemory() async throws {
        let environment = [
            "INCIDENTD_MAX_PENDING_OUTPUT_BYTES": "262144", "INCIDENTD_SLOW_CONSUMER_TIMEOUT_MS": "4000", "INCIDENTD_REQUESTS_PER_SECOND": "0",
        ]
        try await Security.withNode(environment: environment) { node in
            let summary = String(repeating: "Convoy ambushed on the RN16; ", count: 40)
            for batch in 0..<4 {
                let events = (0..<500).map { i in
                    Array(
                        #"{"type":"incident.reported","sector":"east","data":{"incident_id":"big-\#(batch)-\#(i)","category":"ambush","summary":"\#(summary)","occurred_at":"2026-11-28T06:40:00Z","location":{"name":"RN16"}}}"#
                            .utf8)
                }
                _ = try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.append(eventObjects: events)) }
            }
            let baseline = Security.rssKiB(Security.pid(node)) ?? 0
            let requests = 400
            let client = try RawClient(node.client, receiveBuffer: 16 << 10)
            var pipelined: [UInt8] = []
            for _ in 0..<requests { pipelined += Requests.read(from: 0, limit: 10_000) + [0x0A] }
            #expect(client.send(pipelined))
            let (_, peak) = try await Security.peakRSS(node) {
                do {
                    try await Security.wait("the slow consumer verdict", timeout: .seconds(15)) { node.log.contains("slow consumer") }
                } catch {
                    Issue.record("\(error); log:\n\(node.log)")
                }
                // Other clients are served meanwhile.
                let events = try await status(node)["events"]?.integerValue
                #expect(events == 2000)
            }
            let (lines, closed) = try await Security.blocking { client.readAll(timeout: 10) }
            #expect(closed, "the node closed the connection")
            #expect(Security.errorCode(lines.last ?? []) == "slow_consumer", "\(lines.count) lines")
            #expect(lines.count < requests, "the node stopped reading requests: \(lines.count) answered")
            // 400 answers of 256 KiB would be 100 MiB; the node holds about two of them.
            #expect(peak - baseline < 48 << 10, "RSS grew by \((peak - baseline) >> 10) MiB")
            #expect(try await status(node)["events"]?.integerValue == 2000)
        }
    }

    /// Eight clients pipeline a thousand appends each, without waiting, against a node that
    /// fsyncs every commit: every append is answered `ok` and stored once, memory stays bounded.
    @Test func appendsFasterThanTheDiskAreAllAnsweredInBoundedMemory() async throws {
        try await Security.withNode(arguments: []) { node in
            let baseline = Security.rssKiB(Security.pid(node)) ?? 0
            let clients = 8, perClient = 1000
            let (answered, peak) = try await Security.peakRSS(node) {
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for c in 0..<clients {
                        group.addTask {
                            try await Security.blocking {
                                let raw = try RawClient(node.client)
                                var requests: [UInt8] = []
                                for i in 0..<perClient { requests += Requests.append(eventObjects: [Fixtures.incident("disk-\(c)-\(i)")]) + [0x0A] }
                                #expect(raw.send(requests))
                                return (0..<perClient).filter { _ in raw.readLine(timeout: 20).map { Security.errorCode($0) == nil } ?? false }.count
                            }
                        }
                    }
                    return try await group.reduce(0, +)
                }
            }
            #expect(answered == clients * perClient)
            let lines = try await Fixtures.export(node.client)
            #expect(lines.count == clients * perClient)
            #expect(Set(try Fixtures.verifyChains(lines).map(\.id)).count == clients * perClient)
            #expect(peak - baseline < 64 << 10, "RSS grew by \((peak - baseline) >> 10) MiB")
        }
    }
}

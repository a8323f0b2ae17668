import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Synchronization
import Testing
import Wire

/// Lines built to make the JSON parser work hard (an object of ~85,000 distinct keys in 1 MiB),
/// sent by someone who has not authenticated, on the client port and as a peer's hello: each is
/// refused promptly, and a `status` on another connection answers promptly all the while.
///
/// These tests bound time, which tests here otherwise avoid: the harm is time (an event loop
/// held for seconds by one parse stalls every connection on it), so time is what is checked.
/// The bounds are generous (2 s, where the node answers in milliseconds) because CI machines are
/// loaded; before the fix the same lines held an event loop for 10 s and more.
@Suite("Hostile JSON against a real node")
struct HostileJSONTests {
    static let bound = Duration.seconds(2)

    /// `prefix` (an object's opening and first members) followed by distinct keys up to about `bytes`.
    static func manyKeys(prefix: String, bytes: Int) -> [UInt8] {
        var line = Array(prefix.utf8)
        line.reserveCapacity(bytes + 32)
        var i = 0
        while line.count < bytes {
            line += Array(",\"k\(i)\":0".utf8)
            i += 1
        }
        return line + [UInt8(ascii: "}")]
    }

    final class Flag: Sendable {
        let raised = Atomic(false)
    }

    /// Runs `hostile` (blocking socket work) while another connection, authenticated as hq, asks
    /// `status` every 20 ms; returns what `hostile` returned, how long it took, and the slowest
    /// `status` seen (every answer is awaited, a stall shows in full).
    static func whileStatusPolls<T: Sendable>(
        _ node: some NodeUnderTest, token: String?, _ hostile: @escaping @Sendable () throws -> T
    ) async throws -> (T, Duration, Duration) {
        let done = Flag()
        async let slowest: Duration = Security.blocking {
            let c = try RawClient(node.client)
            if let token {
                _ = c.send(line: AuthRequest.line(token: token))
                _ = c.readLine()
            }
            var worst = Duration.zero
            var answered = 0
            while !done.raised.load(ordering: .relaxed) || answered < 3 {
                let start = ContinuousClock.now
                _ = c.send(line: Requests.status)
                guard let answer = c.readLine(timeout: 60), (try? JSONParser.parse(answer))?["ok"]?.boolValue == true else {
                    throw Fixtures.Problem("status not answered")
                }
                answered += 1
                worst = max(worst, start.duration(to: .now))
                Thread.sleep(forTimeInterval: 0.02)
            }
            return worst
        }
        let (result, took) = try await Security.blocking { () throws -> (T, Duration) in
            Thread.sleep(forTimeInterval: 0.1)  // the poller is connected and asking
            let start = ContinuousClock.now
            let result = try hostile()
            return (result, start.duration(to: .now))
        }
        done.raised.store(true, ordering: .relaxed)
        return (result, took, try await slowest)
    }

    @Test func aLongLineOfManyKeysBeforeAuthIsRefusedPromptlyAndStatusGoesOn() async throws {
        try await Security.withNode(config: Security.tokenConfig()) { node in
            // Holds "auth" (so it was parsed twice) and stays under max_line_bytes (1 MiB).
            let line = Self.manyKeys(prefix: #"{"op":"auth","token":"x""#, bytes: (1 << 20) - 64)
            let (answer, took, slowest) = try await Self.whileStatusPolls(node, token: Security.hqToken) {
                let c = try RawClient(node.client)
                return c.stream(line + [0x0A]) { Security.errorCode($0) != nil }.lines
            }
            #expect(answer.count == 1 && answer.first.flatMap(Security.errorCode) == "line_too_long")
            #expect(took < Self.bound, "refused after \(took)")
            #expect(slowest < Self.bound, "a status took \(slowest) meanwhile")
        }
    }

    @Test func aLongLineOfManyKeysAfterAuthIsTooManyMembersAndStatusGoesOn() async throws {
        try await Security.withNode(config: Security.tokenConfig()) { node in
            let line = Self.manyKeys(prefix: #"{"op":"status""#, bytes: (1 << 20) - 64)
            let (answer, took, slowest) = try await Self.whileStatusPolls(node, token: Security.hqToken) {
                let c = try RawClient(node.client)
                _ = c.send(line: AuthRequest.line(token: Security.hqToken))
                _ = c.readLine()
                _ = c.send(line: line)
                _ = c.send(line: Requests.status)
                return [c.readLine(timeout: 60), c.readLine(timeout: 60)]
            }
            #expect(answer[0].flatMap(Security.errorCode) == "too_many_members")
            #expect(answer[1].flatMap { (try? JSONParser.parse($0))?["ok"]?.boolValue } == true, "the connection goes on")
            #expect(took < Self.bound, "answered after \(took)")
            #expect(slowest < Self.bound, "a status took \(slowest) meanwhile")
        }
    }

    @Test func aHelloOfManyKeysIsRefusedPromptlyAndStatusGoesOn() async throws {
        try await Security.withNode { node in
            let line = Self.manyKeys(prefix: #"{"type":"hello""#, bytes: 1 << 20)
            let (lines, took, slowest) = try await Self.whileStatusPolls(node, token: nil) {
                let c = try RawClient(node.peer!)
                // The node's own hello comes first; its answer to ours is an error message.
                return c.stream(line + [0x0A]) { $0.starts(with: Array(#"{"type":"error""#.utf8)) }.lines
            }
            let errors = lines.compactMap { try? PeerMessage.parse($0) }.compactMap { m -> String? in
                if case .error(let code, _) = m { code } else { nil }
            }
            #expect(errors == ["line_too_long"])
            #expect(took < Self.bound, "refused after \(took)")
            #expect(slowest < Self.bound, "a status took \(slowest) meanwhile")
        }
    }
}

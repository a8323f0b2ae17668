import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing
import Wire

/// A link slower than one `events` message per idle timeout, as between the sector offices:
/// the catch-up message takes longer to arrive than the peer idle timeout. Bytes arriving keep
/// the session alive; it completes instead of being cut and resent forever.
@Suite(.serialized) struct SlowLinkTests {
    @Test(.timeLimit(.minutes(2)))
    func catchUpCompletesOverALinkSlowerThanTheIdleTimeout() async throws {
        let cluster = try await TestCluster(ids: ["a", "b"])
        defer { cluster.removeFiles() }
        // 2 s idle timeout; the message below needs about 5 s at 24 KiB/s.
        for id in ["a", "b"] { cluster[id].environment = ["INCIDENTD_TEST_PEER_IDLE_TIMEOUT_MS": "2000"] }
        try await cluster.start("a")
        let events = 300
        _ = try await IncidentConnection.withConnection(to: cluster["a"].client) { c in
            try await c.request(Requests.append(eventObjects: (0..<events).map { Fixtures.incident("slow-\($0)") }))
        }
        let exported = try await IncidentConnection.withConnection(to: cluster["a"].client) { c in
            try await c.request(Requests.read(from: 0, limit: events, waitMillis: 0))
        }
        #expect(exported["events"]?.arrayValue?.count == events)

        let proxy = try await ThrottledProxy.start(to: cluster["a"].peer!, bytesPerSecond: 24 * 1024)
        let b = cluster["b"]
        b.nextStartArguments = ["--peer", proxy.address.description]
        try await b.start()
        let converged: VersionVector
        do {
            converged = try await cluster.waitConverged(["a", "b"], minimum: VersionVector(["a": UInt64(events)]), timeout: .seconds(40))
        } catch {
            Issue.record("b's log:\n\(b.log.suffix(3000))\na's log:\n\(cluster["a"].log.suffix(3000))")
            throw error
        }
        #expect(converged == VersionVector(["a": UInt64(events)]))
        #expect(!b.log.contains("sync.code=idle_timeout"), "the session was cut while the message was arriving")
        await proxy.stop()
    }
}

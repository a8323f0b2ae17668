import Foundation
import IncidentTestSupport
import Systemd
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real incidentd with a datagram socket as NOTIFY_SOCKET, as systemd runs a Type=notify
/// service.
@Suite("sd_notify: readiness, status, watchdog, reload, stopping")
struct NotifyTests {
    /// READY=1 with STATUS once listening, WATCHDOG=1 while alive, RELOADING=1 (with
    /// MONOTONIC_USEC) then READY=1 around SIGHUP, STOPPING=1 on SIGTERM — in that order.
    @Test func notificationsFollowTheLifecycleInOrder() async throws {
        let notify = try NotifySocket()
        defer { notify.close() }
        let node = TestNode(nodeID: "notify", extraArguments: ["--fsync", "never"])
        node.environment = ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"]
        defer {
            node.discard()
        }
        try await node.start()
        try await notify.wait { m in
            guard let ready = m.firstIndex(from: 0, "READY", "1") else { return false }
            return m.firstIndex(from: ready + 1, "WATCHDOG", "1") != nil
        }
        let beforeReload = SystemdNotifier.monotonicMicroseconds()
        node.send(signal: SIGHUP)
        try await notify.wait { m in
            guard let reloading = m.firstIndex(from: 0, "RELOADING", "1") else { return false }
            return m.firstIndex(from: reloading + 1, "READY", "1") != nil
        }
        let afterReload = SystemdNotifier.monotonicMicroseconds()
        await #expect(node.stop() == 0, "log:\n\(node.log)")
        let m = try await notify.wait(timeout: .seconds(5)) { $0.contains { $0.has("STOPPING", "1") } }

        let ready = try #require(m.firstIndex(from: 0, "READY", "1"), "\(m)")
        let status = try #require(m.firstIndex(from: ready, "STATUS"), "\(m)")
        let statusLine = m[status].fields["STATUS"] ?? ""
        #expect(statusLine.contains("events held; peers 0 connected / 0 configured; largest lag"), "\(statusLine)")
        let watchdog = try #require(m.firstIndex(from: status, "WATCHDOG", "1"), "\(m)")
        let reloading = try #require(m.firstIndex(from: watchdog + 1, "RELOADING", "1"), "\(m)")
        let readyAgain = try #require(m.firstIndex(from: reloading + 1, "READY", "1"), "\(m)")
        let stopping = try #require(m.firstIndex(from: readyAgain + 1, "STOPPING", "1"), "\(m)")
        #expect(stopping == m.lastIndex { $0.has("STOPPING") }, "STOPPING=1 comes once, last of the lifecycle")
        // MONOTONIC_USEC is CLOCK_MONOTONIC at the reload, not CLOCK_BOOTTIME or wall time.
        let usec = try #require(m[reloading].fields["MONOTONIC_USEC"].flatMap(UInt64.init), "\(m[reloading])")
        #expect(usec >= beforeReload && usec <= afterReload, "MONOTONIC_USEC \(usec) not in [\(beforeReload), \(afterReload)]")
    }

    /// A wedged store writer (test hook) stops answering the liveness probe: the node withholds
    /// WATCHDOG=1, which is what makes systemd restart it. Its shutdown is still bounded.
    @Test func wedgedStoreWriterStopsTheWatchdogPings() async throws {
        let notify = try NotifySocket()
        defer { notify.close() }
        let node = TestNode(nodeID: "wedge", extraArguments: ["--fsync", "never"])
        node.environment = [
            "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000", "INCIDENTD_TEST_WEDGE_WRITER_AFTER_MS": "1500",
        ]
        defer {
            node.discard()
        }
        try await node.start()
        let deadline = ContinuousClock.now + .seconds(15)
        while !node.log.contains("withholding watchdog pings"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(node.log.contains("withholding watchdog pings"), "log:\n\(node.log)")
        let quietFrom = ContinuousClock.now + .milliseconds(300)
        try await Task.sleep(for: .milliseconds(1800))
        let m = notify.messages
        let ready = try #require(m.firstIndex(from: 0, "READY", "1"), "\(m)")
        let healthyPings = m[ready...].filter { $0.has("WATCHDOG", "1") && $0.at < quietFrom }
        #expect(healthyPings.count >= 2, "pings while the writer answered: \(m)")
        let latePings = m.filter { $0.has("WATCHDOG", "1") && $0.at >= quietFrom }
        #expect(latePings.isEmpty, "WATCHDOG=1 sent while the writer was wedged: \(latePings.count)")

        let started = ContinuousClock.now
        let status = await node.stop()
        let took = ContinuousClock.now - started
        #expect(took < .seconds(20), "shutdown with a wedged writer took \(took)")
        #expect(status != 0, "a store that could not be closed is not a clean exit; log:\n\(node.log)")
        #expect(notify.messages.contains { $0.has("STOPPING", "1") })
    }
}

import EventStore
import Logging
import Sync

#if canImport(Glibc)
import Glibc
#endif

/// TEST-ONLY hooks, switched on by `INCIDENTD_TEST_*` environment variables that no deployment
/// sets (Config/README.md says so). Each one logs a warning when active.
///
/// - `INCIDENTD_TEST_WEDGE_WRITER_AFTER_MS=N`: N ms after start, the store writer blocks
///   forever the next time it wakes, so liveness probes go unanswered and the watchdog pings
///   stop (Tests/SystemdTests).
/// - `INCIDENTD_TEST_PEER_IDLE_TIMEOUT_MS=N`: peer sessions end after N ms without anything
///   received (default 30 s; pings then go out every N/3 ms at most), so a slow-link test need
///   not wait half a minute
///   (Tests/IncidentServerTests/SlowLinkTests).
/// - `INCIDENTD_TEST_SEGMENT_BYTES=N`: segments are sealed at N bytes instead of `segment_mb`
///   (at least 1 MiB), so a test gets several sealed segments from a few dozen events
///   (Tests/IncidentServerTests/SegmentRepairTests).
struct TestHooks {
    var wedgeWriterAfter: Duration?
    var peerIdleTimeout: Duration?
    var segmentBytes: UInt64?
    let logger: Logger

    init(environment: [String: String], logger: Logger) {
        self.logger = logger
        if let text = environment["INCIDENTD_TEST_WEDGE_WRITER_AFTER_MS"], let ms = Int64(text), ms >= 0 {
            wedgeWriterAfter = .milliseconds(ms)
        }
        if let text = environment["INCIDENTD_TEST_PEER_IDLE_TIMEOUT_MS"], let ms = Int64(text), ms > 0 {
            peerIdleTimeout = .milliseconds(ms)
        }
        if let text = environment["INCIDENTD_TEST_SEGMENT_BYTES"], let bytes = UInt64(text), bytes > 0 {
            segmentBytes = bytes
        }
    }

    func install(into configuration: inout PeerSession<ContinuousClock>.Configuration) {
        guard let timeout = peerIdleTimeout else { return }
        logger.warning("TEST HOOK: peer idle timeout changed", metadata: ["test.peer_idle_timeout": "\(timeout)"])
        configuration.idleTimeout = timeout
        configuration.pingInterval = min(configuration.pingInterval, timeout / 3)
    }

    func install(into options: inout StoreOptions) {
        if let segmentBytes {
            logger.warning("TEST HOOK: segments are sealed at a test size", metadata: ["test.segment_bytes": "\(segmentBytes)"])
            options.segmentBytes = segmentBytes
        }
        guard let after = wedgeWriterAfter else { return }
        logger.warning("TEST HOOK: the store writer will wedge", metadata: ["test.wedge_after": "\(after)"])
        let start = ContinuousClock.now
        let logger = self.logger
        options.writerStallHook = {
            guard ContinuousClock.now - start >= after else { return }
            logger.warning("TEST HOOK: store writer wedged")
            while true { sleep(3600) }
        }
    }
}

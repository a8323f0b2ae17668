import EventStore
import Logging
import Sync

#if canImport(Glibc)
import Glibc
#endif

/// TEST-ONLY changes to a node: a node built in-process gets them as `IncidentNode.Options`;
/// a real incidentd takes them from `INCIDENTD_TEST_*` environment variables that no deployment
/// sets (Config/README.md says so), for the tests where the process itself matters. Those a
/// variable switches on log a warning when active; the in-process-only ones are closures and
/// values that only a test can pass.
///
/// - `wedgeWriterAfter` (`INCIDENTD_TEST_WEDGE_WRITER_AFTER_MS=N`): N ms after start, the store
///   writer blocks forever the next time it wakes, so liveness probes go unanswered and the
///   watchdog pings stop (Tests/SystemdTests).
/// - `peerIdleTimeout` (`INCIDENTD_TEST_PEER_IDLE_TIMEOUT_MS=N`): peer sessions end after N ms
///   without anything received (default 30 s; pings then go out every N/3 ms at most), so a
///   slow-link test need not wait half a minute (Tests/IncidentServerTests/SlowLinkTests).
/// - `segmentBytes` (`INCIDENTD_TEST_SEGMENT_BYTES=N`): segments are sealed at N bytes instead of
///   `segment_mb` (at least 1 MiB), so a test gets several sealed segments from a few dozen
///   events (Tests/IncidentServerTests/SegmentRepairTests).
/// - `beforeDataSync` (in-process only): called before each fdatasync of a commit, on the thread
///   that commits, so a test sees where an append was committed: on the event loop that read
///   it, or on the store's writer thread (Tests/IncidentServerTests/CommitPlacementTests).
/// - `appendQuietWindow` (in-process only): how long after another connection's request an
///   append is left to the writer (`LoopTraffic`, 2 ms by default); a test that must not depend
///   on how fast its own requests follow each other makes it long.
/// - `outsideFoldLock` (in-process only): called by a view query for the work it does after the
///   fold's lock is released: before each read of a stored event (the incidents list, the
///   incident view) and before adding up the days of a range (a sector view or the overview with
///   `since`/`until`), so a test can hold a query there and see that the fold goes on meanwhile
///   (Tests/IncidentServerTests/ViewsOutsideFoldLockTests).
public struct TestHooks: Sendable {
    public var wedgeWriterAfter: Duration?
    public var peerIdleTimeout: Duration?
    public var segmentBytes: UInt64?
    public var beforeDataSync: (@Sendable () -> Void)?
    public var appendQuietWindow: Duration?
    public var outsideFoldLock: (@Sendable () -> Void)?

    public init(
        wedgeWriterAfter: Duration? = nil, peerIdleTimeout: Duration? = nil, segmentBytes: UInt64? = nil,
        beforeDataSync: (@Sendable () -> Void)? = nil, appendQuietWindow: Duration? = nil,
        outsideFoldLock: (@Sendable () -> Void)? = nil
    ) {
        self.wedgeWriterAfter = wedgeWriterAfter
        self.peerIdleTimeout = peerIdleTimeout
        self.segmentBytes = segmentBytes
        self.beforeDataSync = beforeDataSync
        self.appendQuietWindow = appendQuietWindow
        self.outsideFoldLock = outsideFoldLock
    }

    /// The hooks the `INCIDENTD_TEST_*` variables of `environment` switch on.
    public init(environment: [String: String]) {
        self.init()
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

    func install(into configuration: inout PeerSession<ContinuousClock>.Configuration, logger: Logger) {
        guard let timeout = peerIdleTimeout else { return }
        logger.warning("TEST HOOK: peer idle timeout changed", metadata: ["test.peer_idle_timeout": "\(timeout)"])
        configuration.idleTimeout = timeout
        configuration.pingInterval = min(configuration.pingInterval, timeout / 3)
    }

    func install(into options: inout StoreOptions, logger: Logger) {
        if let segmentBytes {
            logger.warning("TEST HOOK: segments are sealed at a test size", metadata: ["test.segment_bytes": "\(segmentBytes)"])
            options.segmentBytes = segmentBytes
        }
        if let hook = beforeDataSync {
            let fault = options.syncFaultInjector
            options.syncFaultInjector = {
                hook()
                return fault?() ?? true
            }
        }
        guard let after = wedgeWriterAfter else { return }
        logger.warning("TEST HOOK: the store writer will wedge", metadata: ["test.wedge_after": "\(after)"])
        let start = ContinuousClock.now
        options.writerStallHook = {
            guard ContinuousClock.now - start >= after else { return }
            logger.warning("TEST HOOK: store writer wedged")
            while true { sleep(3600) }
        }
    }
}

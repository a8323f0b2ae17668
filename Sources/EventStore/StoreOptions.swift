import IncidentModel
public import Metrics

/// When the writer calls fdatasync.
public enum FsyncPolicy: String, Sendable, CaseIterable {
    /// Before every acknowledgement (group commit batches many appends into one call). The default.
    case always
    /// Never: for tests and benchmarks only. An acknowledged event can be lost on power failure.
    case never
}

public struct StoreOptions: Sendable {
    public var fsync: FsyncPolicy = .always
    /// A segment is sealed and a new one started once it reaches this size.
    public var segmentBytes: UInt64 = 64 << 20
    /// The active segment is kept this far ahead of its data in zero bytes written and synced
    /// (SegmentFormat.swift, "Reserved tail"), so that the fdatasync of a commit that stays inside
    /// the reserve has no file size to commit. 0 writes segments without a reserve. The commit
    /// that extends the reserve waits for its zeros, so a step much larger stalls a replica's
    /// commits (docs/STORAGE.md, "Reserved tail").
    public var preallocationBytes: UInt64 = 1 << 20
    /// Appends are refused with `disk_full` while less than this is free under the data dir.
    public var diskReserveBytes: UInt64 = 256 << 20
    /// The writer takes at most this much pending data into one commit.
    public var maximumBatchBytes: Int = 4 << 20
    /// Local events of one commit are signed every this many events, and always the last one.
    /// A receiver can store a run of events only once it holds the signed event that ends the
    /// run (docs/PROTOCOL.md, "Signatures"), so this bounds what must cross a link in one piece:
    /// 64 events of about 600 bytes are under 40 KiB raw, a few seconds of a 64 kbit/s link
    /// compressed. Signing costs about 14 µs, so 1/64 of that per event.
    public var signatureInterval: Int = 64
    /// Free bytes under the data directory; injected by tests.
    public var freeSpaceProbe: (@Sendable (String) -> UInt64?)? = nil
    /// Milliseconds since the epoch for `recorded_at` and the HLC; injected by tests.
    public var wallClock: @Sendable () -> UInt64 = HybridLogicalClock.systemMillis
    /// Test hook: called before each data sync; returning false makes it fail as EIO would.
    public var syncFaultInjector: (@Sendable () -> Bool)? = nil
    /// Test hook: called by the writer thread each time it wakes, before it answers liveness
    /// probes. A hook that blocks wedges the writer (incidentd's test-only
    /// INCIDENTD_TEST_WEDGE_WRITER_AFTER_MS uses it to show that the watchdog pings stop).
    public var writerStallHook: (@Sendable () -> Void)? = nil
    /// Where the store's metrics go (`StoreMetrics`): the process-wide factory that incidentd
    /// bootstraps, by default; an in-process test node passes its own registry's factory
    /// (`IncidentNode.Options.metricsFactory`), so that its `/metrics` holds its figures only.
    public var metricsFactory: any MetricsFactory = MetricsSystem.factory

    public init() {}
}

import Dispatch
public import IncidentModel
public import Logging
import Metrics
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The append-only event log of one node: segment files, a single writer with group commit,
/// in-memory indexes, readers from any offset and subscriptions to new appends.
///
/// One writer thread owns the open segment. Appends queue up; the writer takes every waiting
/// append (up to `maximumBatchBytes`), writes them with one `pwrite` at the end of the segment's
/// data (into its reserved tail of zeros, SegmentFormat.swift), calls `fdatasync` once and only
/// then completes their waiters. The last local event of each commit carries the node's
/// signature, which the `prev` chain extends to the rest of the commit.
public final class EventStore: Sendable {
    public let directory: String
    public let nodeID: String
    let segmentsDirectory: String
    let options: StoreOptions
    let logger: Logger
    let identity: NodeIdentity

    let index: Mutex<IndexState>
    let queue: Mutex<QueueState>
    let wake = DispatchSemaphore(value: 0)
    let writerContext: WriterContext
    let writerExited = DispatchSemaphore(value: 0)
    /// Holds an exclusive flock on `<dir>/LOCK` while the store is open.
    let lockFD: Int32
    let metrics: StoreMetrics

    /// Takes `<dir>/LOCK`: one process per data directory.
    static func lockDirectory(_ directory: String) throws(StoreError) -> Int32 {
        if let code = POSIX.makeDirectory(directory) {
            throw StoreError(.io, "cannot create \(directory): \(POSIX.errnoText(code))")
        }
        let fd = Glibc.open(directory + "/LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw StoreError(.io, "cannot open \(directory)/LOCK: \(POSIX.errnoText())") }
        // A lock just released can linger for a moment in a process being spawned by another
        // thread (its fds are copies until exec closes them), so retry briefly before refusing;
        // a second incidentd holds it for good and is still refused.
        var locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        var attempts = 0
        while !locked, errno == EWOULDBLOCK || errno == EINTR, attempts < 100 {
            attempts += 1
            usleep(10_000)
            locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        }
        guard locked else {
            Glibc.close(fd)
            throw StoreError(.io, "\(directory) is in use by another incidentd (LOCK is held)")
        }
        return fd
    }

    /// Opens (recovering) or creates the store under `directory`.
    public init(
        directory: String, nodeID: String, identity: NodeIdentity, options: StoreOptions = StoreOptions(),
        logger: Logger
    ) throws(StoreError) {
        self.directory = directory
        self.nodeID = nodeID
        self.identity = identity
        self.options = options
        self.metrics = StoreMetrics(factory: options.metricsFactory)
        self.logger = logger
        self.segmentsDirectory = directory + "/segments"
        let lockFD = try Self.lockDirectory(directory)
        self.lockFD = lockFD
        let recovered: Recovery.Result
        do throws(StoreError) {
            recovered = try Recovery.open(
                directory: directory, segmentsDirectory: segmentsDirectory, nodeID: nodeID, identity: identity, options: options,
                logger: logger)
        } catch {
            // A failed open must not leave the directory locked for the rest of the process.
            Glibc.close(lockFD)
            throw error
        }
        self.index = Mutex(recovered.index)
        self.queue = Mutex(QueueState())
        var clock = HybridLogicalClock(last: recovered.maxHLC, wallClock: options.wallClock)
        clock.observe(recovered.maxHLC)
        self.writerContext = WriterContext(
            activeFD: recovered.activeFD, activeSize: recovered.activeSize, reservedEnd: recovered.reservedEnd, clock: clock,
            chains: recovered.chains, repair: recovered.repair)
        if options.fsync == .never {
            logger.warning(
                "fsync policy is never: acknowledged events can be lost on power failure (tests and benchmarks only)",
                metadata: ["store.dir": "\(directory)"])
        }
        let thread = WriterThread(store: self)
        thread.start()
    }

    // MARK: Appending

    /// Appends local events atomically: all are acknowledged (durably, under `fsync: always`) or
    /// none is written. Returns where each landed. The writer thread commits them.
    public func append(_ events: [PendingEvent]) async throws(StoreError) -> [Appended] {
        let result = await withCheckedContinuation { continuation in
            submitAppend(events, commitHere: false) { continuation.resume(returning: $0) }
        }
        return try result.get()
    }

    /// Appends local events atomically and calls `completion` once: with where each landed, or
    /// with why none was written. With `commitHere`, when no commit is running and no append
    /// waits, the caller's thread commits them itself (write, fdatasync, publish) and
    /// `completion` runs before this returns: no thread is woken for a lone append. Otherwise
    /// they join the group the writer thread commits next, and `completion` runs there.
    public func submitAppend(
        _ events: [PendingEvent], commitHere: Bool, completion: @escaping @Sendable (Result<[Appended], StoreError>) -> Void
    ) {
        guard !events.isEmpty else { return completion(.success([])) }
        let started = ContinuousClock.now
        let metrics = self.metrics
        let bytes = events.reduce(0) { $0 + $1.data.count + 300 }
        let done = AppendCompletion { result in
            metrics.append.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1)))
            completion(
                result.map { outcome in
                    guard case .appended(let appended) = outcome else { return [] }
                    return appended
                })
        }
        submit(PendingAppend(work: .local(events), bytes: bytes, continuation: done), commitHere: commitHere)
    }

    /// Queues `p` for the writer, or commits it on this thread (`commitHere`, nothing running or
    /// waiting). While such a commit runs the writer thread takes nothing; appends arriving
    /// meanwhile queue up, and the committing thread wakes the writer for them when it is done.
    /// Liveness probes are answered between commits, by whichever thread committed.
    func submit(_ p: PendingAppend, commitHere: Bool) {
        enum Route { case refused, queued, here }
        let route = queue.withLock { q -> Route in
            if q.closing { return .refused }
            if commitHere, !q.writerCommitting, !q.committingHere, q.pending.isEmpty {
                q.committingHere = true
                return .here
            }
            q.pending.append(p)
            return .queued
        }
        switch route {
        case .refused:
            p.continuation.resume(returning: .failure(StoreError(.closed, "the node is shutting down")))
        case .queued:
            wake.signal()
        case .here:
            commit([p])
            let (probes, wakeWriter) = queue.withLock { q in
                q.committingHere = false
                defer { q.probes = [] }
                return (q.probes, !q.pending.isEmpty || q.closing)
            }
            for probe in probes { probe.answer(true) }
            if wakeWriter { wake.signal() }
        }
    }

    /// Stores events replicated from other nodes, under the chain rule: for each event in order,
    /// a held (origin, seq) with the same hash is a duplicate, with another hash a fork; a seq
    /// beyond the next is a gap; the next seq must carry `prev` = the hash held for seq − 1.
    /// Signatures and hashes are the caller's to check (Sync's verifier) before this.
    /// Stored events are durable (per the fsync policy) when this returns.
    public func ingest(_ events: [Event]) async throws(StoreError) -> [IngestOutcome] {
        guard !events.isEmpty else { return [] }
        let bytes = events.reduce(0) { $0 + $1.line.count + 1 }
        let result: Result<CommitOutcome, StoreError> = await withCheckedContinuation { continuation in
            submit(
                PendingAppend(work: .replicated(events), bytes: bytes, continuation: AppendCompletion { continuation.resume(returning: $0) }),
                commitHere: false)
        }
        guard case .ingested(let outcomes) = try result.get() else { return [] }
        return outcomes
    }

    // MARK: Status

    /// Events held in the local log.
    public var count: UInt64 { index.withLock { $0.count } }

    /// Per origin, the highest seq held with every lower seq held too: an event missing from a
    /// damaged segment lowers its origin's entry until it is repaired (Damage.swift).
    public var versionVector: VersionVector {
        index.withLock { state in
            var held = state.origins.mapValues { UInt64($0.offsets.count) }
            for (origin, floor) in state.missingFloor { held[origin] = min(held[origin] ?? 0, floor - 1) }
            return VersionVector(held)
        }
    }

    /// Bytes held in segment files.
    public var dataBytes: UInt64 { index.withLock { $0.segments.reduce(0) { $0 + $1.size } } }

    public var segmentCount: Int { index.withLock { $0.segments.count } }

    /// Replicated events refused as forks since the node started.
    public var forkCount: Int { index.withLock { $0.forks } }

    /// The sticky failure, when an earlier write or fsync failed.
    public var failure: StoreError? { index.withLock { $0.failed } }

    /// Stops taking appends, lets the writer finish every queued one, and closes the files.
    public func close() async {
        _ = await close(waitingAtMost: nil)
    }

    /// `close()`, but gives up waiting for a writer that does not finish within `timeout`
    /// (wedged in a write or an fsync) and returns false: what it had not acknowledged was never
    /// acknowledged, and recovery on the next start handles whatever it left on disk.
    @discardableResult
    public func close(timeout: Duration) async -> Bool {
        await close(waitingAtMost: timeout)
    }

    func close(waitingAtMost timeout: Duration?) async -> Bool {
        let first = queue.withLock { q -> Bool in
            defer { q.closing = true }
            return !q.closing
        }
        guard first else { return true }
        wake.signal()
        let finished = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            DispatchQueue.global().async {
                if let timeout {
                    c.resume(returning: self.writerExited.wait(timeout: .now() + timeout.dispatchInterval) == .success)
                } else {
                    self.writerExited.wait()
                    c.resume(returning: true)
                }
            }
        }
        if !finished {
            logger.critical(
                "store writer did not finish within the shutdown timeout; closing without it",
                metadata: ["store.dir": "\(directory)"])
        }
        let (subscribers, repairSubscribers) = index.withLock { state in
            for s in state.segments { Glibc.close(s.readFD) }
            for fd in state.retiredFDs { Glibc.close(fd) }
            state.retiredFDs = []
            state.segments = state.segments.map {
                var s = $0; s.readFD = -1; return s
            }
            state.closed = true
            defer {
                state.subscribers = [:]
                state.repairSubscribers = [:]
            }
            return (Array(state.subscribers.values), Array(state.repairSubscribers.values))
        }
        // Finished outside the lock: a subscription's onTermination handler takes it (finishing a
        // stream runs its handler at once, and the lock is not recursive).
        for c in subscribers { c.finish() }
        for c in repairSubscribers { c.finish() }
        // The directory is free for the next open only once the writer is gone; a wedged writer
        // keeps it locked, since it might still write.
        if finished { Glibc.close(lockFD) }
        return finished
    }
}

/// A validated local event waiting to be stored: what the client sent, with canonical data.
public struct PendingEvent: Sendable {
    public var type: String
    public var sector: String
    /// Canonical JSON of the payload.
    public var data: [UInt8]

    public init(type: String, sector: String, data: [UInt8]) {
        self.type = type
        self.sector = sector
        self.data = data
    }

    public init(_ event: NewEvent) {
        self.init(type: event.type.rawValue, sector: event.sector, data: event.canonicalData)
    }
}

/// Where an appended event landed.
public struct Appended: Sendable, Equatable {
    public var origin: String
    public var seq: UInt64
    public var offset: UInt64
    public var id: String { "\(origin):\(seq)" }
}

/// What happened to one replicated event.
public enum IngestOutcome: Sendable, Equatable {
    case stored(offset: UInt64)
    case duplicate
    case refused(StoreError.Code, String)
}

struct PendingAppend {
    enum Work {
        case local([PendingEvent])
        case replicated([Event])
    }
    var work: Work
    var bytes: Int
    var continuation: AppendCompletion
}

/// Called once with a commit's outcome for one append or ingest.
struct AppendCompletion: Sendable {
    let body: @Sendable (Result<CommitOutcome, StoreError>) -> Void

    func resume(returning result: Result<CommitOutcome, StoreError>) { body(result) }
}

enum CommitOutcome {
    case appended([Appended])
    case ingested([IngestOutcome])
}

struct QueueState {
    var pending: [PendingAppend] = []
    var closing = false
    /// The writer thread is committing a group taken from `pending`.
    var writerCommitting = false
    /// A submitter is committing its own append (`EventStore.submit`); the writer waits.
    var committingHere = false
    /// Liveness probes waiting for the writer to come round (see `ping`).
    var probes: [LivenessProbe] = []
}

/// What readers see; changed only by the writer after a commit is durable.
struct IndexState {
    struct Segment {
        var firstOffset: UInt64
        var name: String
        var readFD: Int32
        /// Byte position of each line in the file.
        var lineStarts: [UInt32]
        /// Committed bytes (readers never look past this).
        var size: UInt64
        /// Positions (0 = the segment's first line) whose line is damaged: slots whose event the
        /// file does not hold (Damage.swift). Sorted; empty but for a damaged sealed segment.
        var slots: [Int] = []
        var lastOffset: UInt64 { firstOffset + UInt64(lineStarts.count) }

        /// The run of slots from position `i`, if `i` is one, else where the next run begins.
        func slotRun(at i: Int) -> (isSlot: Bool, end: Int) {
            guard !slots.isEmpty else { return (false, lineStarts.count) }
            var lo = 0
            var hi = slots.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if slots[mid] < i { lo = mid + 1 } else { hi = mid }
            }
            guard lo < slots.count else { return (false, lineStarts.count) }
            guard slots[lo] == i else { return (false, slots[lo]) }
            var end = lo
            while end + 1 < slots.count, slots[end + 1] == slots[end] + 1 { end += 1 }
            return (true, slots[end] + 1)
        }
    }

    struct Origin {
        /// Local offset of each seq (index seq − 1).
        var offsets: [UInt64] = []
    }

    var segments: [Segment] = []
    var origins: [String: Origin] = [:]
    var count: UInt64 = 0
    var failed: StoreError? = nil
    /// Replicated events refused because they conflict with a held event (see `ingest`).
    var forks = 0
    var closed = false
    var subscribers: [Int: AsyncStream<Void>.Continuation] = [:]
    var nextSubscriberID = 0
    /// Per origin, seqs that damaged segments hide (they have offsets: their slots), and the
    /// lowest of them; the writer removes them as they are repaired.
    var missing: [String: Set<UInt64>] = [:]
    var missingFloor: [String: UInt64] = [:]
    /// What `status` shows of the damage (empty without any).
    var damage = DamageReport()
    /// Own-origin seqs reported lost (`reportLost`).
    var lost: Set<UInt64> = []
    /// Rewrites that took repaired events (`repairs`).
    var repairs = 0
    /// Read descriptors of segment files a repair replaced: a reader may still be reading the
    /// old file through one, so they are closed with the store.
    var retiredFDs: [Int32] = []
    /// Who wants the events a repair writes back (the projection fold).
    var repairSubscribers: [Int: AsyncStream<[Event]>.Continuation] = [:]
}

/// State touched only by the writer thread.
final class WriterContext: @unchecked Sendable {
    var activeFD: Int32
    /// Where the active segment's data ends: the next commit is written here.
    var activeSize: UInt64
    /// The active segment's file size: from `activeSize` to here it holds zeros, the reserved
    /// tail (SegmentFormat.swift).
    var reservedEnd: UInt64
    var clock: HybridLogicalClock
    /// For each origin: the highest seq held and its hash.
    var chains: [String: (seq: UInt64, hash: EventHash)]
    /// Damaged sealed segments and their repair (Damage.swift).
    var repair: RepairState
    /// `incidentlog_events_stored_total` per origin, made on the first event of each.
    var storedCounters: [String: Counter] = [:]

    init(
        activeFD: Int32, activeSize: UInt64, reservedEnd: UInt64, clock: HybridLogicalClock,
        chains: [String: (seq: UInt64, hash: EventHash)], repair: RepairState
    ) {
        self.activeFD = activeFD
        self.activeSize = activeSize
        self.reservedEnd = reservedEnd
        self.clock = clock
        self.chains = chains
        self.repair = repair
    }
}

import Dispatch
import EventStore
import IncidentModel
import Logging
import NIOPosix
import Projections
import ServiceLifecycle
import Synchronization
import Wire

/// Keeps the projections folded as events are stored (local appends and sync alike, through
/// the store's subscription), answers queries from them, and snapshots them.
///
/// Events that fail their check (`EventValidator` with the configured sectors) are stored but
/// quarantined by the fold: logged at warning when folded, and counted in `status`.
///
/// Start: load `<data dir>/projections.snapshot` when it is of this projection version and
/// sector list, passes its
/// checksum and fits this log (its offset within the log, its vector within the store's);
/// otherwise rebuild from offset 0. Then fold what the log holds beyond it and report ready.
/// That catch-up reads the log in blocks of lines on two cores (`RebuildPipeline`); events
/// stored after it are folded as the store's subscription delivers them, in blocks of lines
/// too (`subscribeBlocks`), read (`PreparedEvents.prepare`) before the fold's lock is taken.
/// A snapshot is written every `snapshotInterval` when events were folded, and at shutdown
/// (after the listeners stopped, before the store closes).
///
/// Two locks. `state` is the fold's: it is held while a batch is folded, and by the queries
/// that read the state itself, for the time they take what the state decides (views with
/// `since`/`until` copy their days' buckets, `RangeView`; an incidents page or the incident view
/// writes all but the values it reads back from the log, `IncidentPage`); their other work comes
/// after the lock is released.
/// `published` holds the views over all days as they stand after the last whole batch
/// (`PublishedViews`, Projections/PublishedViews.swift): the fold makes new answers for the
/// sectors the batch touched (rendered by the first query that asks) and swaps the reference
/// before it lets go of `state`, and the sector views and the overview are answered from that
/// reference, taken under `published` for the time of a copy. So those queries never wait for a
/// batch, the fold never waits for them, and they see every batch whole or not at all. While
/// the log is caught up at start, a publication is made every `catchUpPublishInterval` and at
/// the end, not after every block.
final class ProjectionService: Service {
    let store: EventStore
    let path: String
    let logger: Logger
    let onCaughtUp: @Sendable () -> Void
    let snapshotInterval: Duration
    let state: Mutex<Folded>
    let published: Mutex<PublishedViews>
    /// Called with the fold's lock held, after a batch is folded and before it is published
    /// (tests hold a batch there to show that queries are answered meanwhile).
    let midBatchHook: (@Sendable () -> Void)?
    static let catchUpPublishInterval = Duration.milliseconds(100)

    struct Folded {
        var projection: ProjectionState
        /// Log offset of the next event to fold.
        var cursor: UInt64
        /// Events folded since the process started (a restart from a snapshot folds only the newer ones).
        var foldedSinceStart: UInt64 = 0
        /// Whether this process started from a snapshot (status reports it; never changes after start).
        var loadedFromSnapshot = false
        /// The log offset the snapshot on disk covers; nil when there is none this log can use.
        var snapshotCursor: UInt64? = nil
        /// The last publication (the sectors no batch touched since are shared with it).
        var views: PublishedViews? = nil
        var publishedAt = ContinuousClock.now

        /// Publishes the state as it stands (see the top of the class).
        mutating func publish(to box: borrowing Mutex<PublishedViews>) {
            let views = projection.publish(after: views, position: cursor)
            self.views = views
            publishedAt = .now
            box.withLock { $0 = views }
        }
    }

    init(
        store: EventStore, sectors: [String], directory: String, snapshotInterval: Duration = .seconds(60), logger: Logger,
        midBatchHook: (@Sendable () -> Void)? = nil, onCaughtUp: @escaping @Sendable () -> Void
    ) {
        self.store = store
        self.path = directory + "/projections.snapshot"
        self.logger = logger
        self.onCaughtUp = onCaughtUp
        self.snapshotInterval = snapshotInterval
        self.midBatchHook = midBatchHook
        var folded = Folded(projection: ProjectionState(sectors: sectors), cursor: 0)
        if !store.damage.isEmpty {
            // The snapshot may have folded events the damage hides now: the views are folded
            // from the events held, and take the repaired ones as they come back.
            logger.warning("the log has damaged segments; rebuilding the views from the events held", metadata: ["projections.file": "\(path)"])
        } else {
            do {
                let loaded = try ProjectionSnapshot.load(from: path, sectors: sectors)
                if loaded.logOffset <= store.count, store.versionVector.dominates(loaded.versionVector),
                    // The events below the offset are exactly those the vector covers.
                    loaded.versionVector.total == loaded.logOffset
                {
                    folded = Folded(projection: loaded.state, cursor: loaded.logOffset, loadedFromSnapshot: true, snapshotCursor: loaded.logOffset)
                    logger.info("projection snapshot loaded", metadata: ["projections.offset": "\(loaded.logOffset)"])
                } else {
                    logger.warning("projection snapshot does not match this log; rebuilding from the log", metadata: ["projections.file": "\(path)"])
                }
            } catch {
                if error.code != .notFound {
                    logger.warning(
                        "projection snapshot unusable; rebuilding from the log",
                        metadata: ["projections.file": "\(path)", "projections.reason": "\(error)"])
                }
            }
        }
        let views = folded.projection.publish(after: nil, position: folded.cursor)
        folded.views = views
        published = Mutex(views)
        state = Mutex(folded)
    }

    func run() async throws {
        // Taken before the catch-up, so that no repair between the two goes unfolded.
        let repaired = store.repairedEvents()
        let start = state.withLock { $0.cursor }
        let target = store.count
        if start >= target { reportCaughtUp() }
        // Folding and the periodic snapshot stop when graceful shutdown begins (the listeners have
        // stopped by then); the store is still open, so the final snapshot covers what was folded.
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: self.snapshotInterval) } catch { return }
                        self.writeSnapshot(reason: "periodic")
                    }
                }
                group.addTask {
                    // Events a repair wrote back at offsets the fold has passed (or will pass:
                    // the fold folds an event once, whichever way it comes first).
                    for await events in repaired {
                        self.state.withLock { s in
                            s.projection.apply(contentsOf: events)
                            s.foldedSinceStart += UInt64(events.count)
                            s.publish(to: self.published)
                        }
                        self.logger.info("repaired events folded", metadata: ["projections.events": "\(events.count)"])
                    }
                }
                if let cursor = await self.catchUp(from: start, to: target) {
                    // On a thread of its own (an event loop as the task's executor), so that no
                    // work on the concurrency pool holds it up: a query blocked in a read of the
                    // log holds a pool thread, and the pool has one per core. That thread runs
                    // below the write path's priority (`FoldThread`).
                    let thread = MultiThreadedEventLoopGroup(numberOfThreads: 1)
                    thread.next().execute { FoldThread.configureCurrent() }
                    await withTaskExecutorPreference(EventLoopTaskExecutor(thread.next())) {
                        await self.fold(from: cursor, caughtUpAt: target)
                    }
                    try? await thread.shutdownGracefully()
                }
                group.cancelAll()
            }
        }
        writeSnapshot(reason: "shutdown")
    }

    /// Folds what the log holds from `start` up to `target` with the two-core pipeline, a batch
    /// at a time under the lock (queries of the state wait at most one batch); reports ready when it gets
    /// there. Gives the cursor reached, or nil when folding failed (logged, as a failed
    /// subscription is: the node then never reports ready). Cancellation (graceful shutdown)
    /// stops it between batches.
    ///
    /// It runs on a thread of its own, not the task's: folding a large log takes seconds, and
    /// the concurrency pool's few threads run the other services meanwhile (the watchdog's pings
    /// among them; on one core the pool has one thread).
    func catchUp(from start: UInt64, to target: UInt64) async -> UInt64? {
        guard start < target else { return start }
        let stop = StopFlag()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                DispatchQueue.global(qos: .userInitiated).async {
                    continuation.resume(returning: self.foldLog(from: start, to: target, stop: stop))
                }
            }
        } onCancel: {
            stop.raise()
        }
    }

    func foldLog(from start: UInt64, to target: UInt64, stop: StopFlag) -> UInt64? {
        let reader = LineBlockReader(store: store, from: start, to: target)
        do {
            try RebuildPipeline.run(
                next: { try reader.next() },
                apply: { batch in
                    let quarantined = state.withLock { s in
                        let quarantined = s.projection.apply(batch)
                        s.cursor += UInt64(batch.span)
                        s.foldedSinceStart += UInt64(batch.count)
                        midBatchHook?()
                        if ContinuousClock.now - s.publishedAt >= Self.catchUpPublishInterval { s.publish(to: published) }
                        return quarantined
                    }
                    logQuarantined(quarantined)
                    // Graceful shutdown: stop between batches; the final snapshot covers what was folded.
                    return !stop.raised
                })
        } catch {
            logger.error("projection folding stopped", metadata: ["error": "\(error)"])
            return nil
        }
        let cursor = state.withLock { s in
            s.publish(to: published)
            return s.cursor
        }
        if cursor >= target { reportCaughtUp() }
        return cursor
    }

    /// Folds every batch the store delivers from `start` on; reports ready once `caughtUpAt` is passed.
    func fold(from start: UInt64, caughtUpAt target: UInt64) async {
        var caughtUp = start >= target
        do {
            var blocks = store.subscribeBlocks(from: start, batchLimit: 4096).makeAsyncIterator()
            while let batch = try await blocks.next() {
                let read = blocks.cursor
                // Read from the stored lines before the lock is taken, as the catch-up's blocks are.
                let prepared = try batch.map { block throws(EventParseError) in try PreparedEvents.prepare(block) }
                let (cursor, quarantined) = state.withLock { s -> (UInt64, [QuarantinedEvent]) in
                    var quarantined: [QuarantinedEvent] = []
                    for events in prepared {
                        quarantined += s.projection.apply(events)
                        s.foldedSinceStart += UInt64(events.count)
                    }
                    s.cursor = read
                    midBatchHook?()
                    s.publish(to: published)
                    return (s.cursor, quarantined)
                }
                logQuarantined(quarantined)
                if !caughtUp, cursor >= target {
                    caughtUp = true
                    reportCaughtUp()
                }
            }
        } catch {
            logger.error("projection folding stopped", metadata: ["error": "\(error)"])
        }
    }

    /// A warning per quarantined event when the fold meets it, for the first
    /// `quarantineLogLimit` of a batch, then one for the rest of the batch, so a peer's flood of
    /// them cannot flood the log. A snapshot's events are not met again; a rebuild from the log
    /// meets them once more.
    func logQuarantined(_ events: [QuarantinedEvent]) {
        for q in events.prefix(Self.quarantineLogLimit) {
            logger.warning(
                "event quarantined: stored, but kept out of the views",
                metadata: ["event.id": "\(q.id)", "projections.reason": "\(q.reason)"])
        }
        if events.count > Self.quarantineLogLimit {
            logger.warning(
                "more events quarantined in the same batch",
                metadata: ["projections.quarantined": "\(events.count - Self.quarantineLogLimit)", "event.id": "\(events.last!.id)"])
        }
    }

    static let quarantineLogLimit = 8

    func reportCaughtUp() {
        let s = state.withLock { ($0.cursor, $0.foldedSinceStart, $0.loadedFromSnapshot) }
        logger.info(
            "projections ready",
            metadata: ["projections.offset": "\(s.0)", "projections.folded": "\(s.1)", "projections.from_snapshot": "\(s.2)"])
        onCaughtUp()
    }

    /// Writes the snapshot when anything was folded since the last one.
    func writeSnapshot(reason: String) {
        // A copy of the state (copy-on-write: cheap until folding goes on) is encoded outside the lock.
        // A state with gaps (events a damaged segment hides) is not saved: a snapshot stands for
        // every event below its offset.
        let encoded: (bytes: ProjectionState, offset: UInt64)? = state.withLock { s in
            guard s.cursor != s.snapshotCursor, !s.projection.hasGaps else { return nil }
            return (s.projection, s.cursor)
        }
        guard let encoded else { return }
        do {
            try ProjectionSnapshot.write(encoded.bytes, logOffset: encoded.offset, to: path)
            state.withLock { $0.snapshotCursor = encoded.offset }
            logger.info("projection snapshot written", metadata: ["projections.offset": "\(encoded.offset)", "projections.reason": "\(reason)"])
        } catch {
            logger.error("cannot write the projection snapshot", metadata: ["projections.file": "\(path)", "error": "\(error)"])
        }
    }

    /// Runs a query against the current state, under the fold's lock.
    func query<R>(_ body: (ProjectionState) throws -> R) rethrows -> R {
        try state.withLock { try body($0.projection) }
    }

    /// The views over all days after the last whole batch folded; never waits for the fold.
    var views: PublishedViews { published.withLock { $0 } }

    /// Waits until everything below log offset `target` is folded and published, at most
    /// `within`; returns whether it got there.
    func waitFolded(upTo target: UInt64, within: Duration) async -> Bool {
        let deadline = ContinuousClock.now + within
        while views.position < target {
            guard ContinuousClock.now < deadline else { return false }
            do { try await Task.sleep(for: .milliseconds(2)) } catch { return false }
        }
        return true
    }

    var counters: (cursor: UInt64, foldedSinceStart: UInt64, fromSnapshot: Bool) {
        state.withLock { ($0.cursor, $0.foldedSinceStart, $0.loadedFromSnapshot) }
    }

    /// Events kept out of the views for failing their check: how many, and the first few.
    var quarantine: (count: UInt64, first: [QuarantinedEvent]) {
        state.withLock { ($0.projection.quarantinedCount, $0.projection.quarantineSample) }
    }
}

/// Set once, from any thread: asks a fold running on its own thread to stop.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var raised: Bool { value.load(ordering: .acquiring) }
    func raise() { value.store(true, ordering: .releasing) }
}

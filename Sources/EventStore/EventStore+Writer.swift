// The writer: group commit into the newest segment (format and recovery rules at the top of
// SegmentFormat.swift). It writes each commit with pwrite at the end of the segment's data, into
// the segment's reserved tail of zeros, and keeps that tail `preallocationBytes` ahead, so that a
// commit's fdatasync has data to flush but no file size to commit. It cuts the tail when it seals
// the segment and when the store closes.

import Foundation
import IncidentModel
import Logging
import Metrics
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The single writer. It runs on its own thread, not on the cooperative pool, because
/// `fdatasync` blocks for a disk round trip and must not starve the event loops.
struct WriterThread {
    let store: EventStore

    func start() {
        let store = self.store
        let thread = Thread {
            POSIX.nameThisThread("incident-writer")
            store.writerLoop()
        }
        thread.start()
    }
}

extension EventStore {
    func writerLoop() {
        while true {
            wake.wait()
            options.writerStallHook?()
            while true {
                let (batch, closing, probes) = queue.withLock { q -> ([PendingAppend], Bool, [LivenessProbe]) in
                    q.writerCommitting = false
                    // A submitter committing on its own thread wakes the writer once it is done.
                    if q.committingHere { return ([], false, []) }
                    // The longest prefix within the batch limit (at least one append), removed at once.
                    var count = 0
                    var bytes = 0
                    while count < q.pending.count, count == 0 || bytes + q.pending[count].bytes <= options.maximumBatchBytes {
                        bytes += q.pending[count].bytes
                        count += 1
                    }
                    let taken = Array(q.pending.prefix(count))
                    q.pending.removeFirst(count)
                    q.writerCommitting = count > 0
                    defer { q.probes = [] }
                    return (taken, q.closing, q.probes)
                }
                // Between commits: the writer is alive.
                for probe in probes { probe.answer(true) }
                if batch.isEmpty {
                    if closing {
                        // A clean close leaves the segment as a sealed one is: no reserved tail.
                        trimReservedTail()
                        Glibc.close(writerContext.activeFD)
                        writerExited.signal()
                        return
                    }
                    break
                }
                commit(batch)
            }
        }
    }

    /// Writes one group of appends, syncs once, then publishes and completes them.
    func commit(_ batch: [PendingAppend]) {
        if let failed = index.withLock({ $0.failed }) {
            for p in batch { p.continuation.resume(returning: .failure(failed)) }
            return
        }
        let probe = options.freeSpaceProbe ?? { POSIX.freeBytes($0) }
        if let free = probe(directory), free < options.diskReserveBytes {
            let error = StoreError(
                .diskFull,
                "free space under the data directory (\(free >> 20) MiB) is below the reserve (\(options.diskReserveBytes >> 20) MiB)")
            logger.warning("append refused: disk reserve reached", metadata: ["store.free_bytes": "\(free)"])
            for p in batch { p.continuation.resume(returning: .failure(error)) }
            return
        }
        if writerContext.activeSize >= options.segmentBytes {
            if let error = rollSegment() {
                fail(batch, error)
                return
            }
        }

        let ctx = writerContext
        let firstOffset = index.withLock { $0.count }
        let signedIndex = Self.lastLocalEventIndex(batch)
        let signatureInterval = max(1, options.signatureInterval)
        // The commit's lines, one after the other, each with its newline.
        var out = JSONWriter(reservingCapacity: batch.reduce(0) { $0 + $1.bytes })
        var lineStarts: [UInt32] = []
        var newOffsets: [OriginRun] = []
        var outcomes: [CommitOutcome] = []
        outcomes.reserveCapacity(batch.count)
        // Chains advance on a copy, kept only if the write and sync succeed.
        var chains = ctx.chains
        var batchHashes: [String: BatchChain] = [:]
        var offset = firstOffset
        var localIndex = 0
        var forks = 0
        var repairsStaged = false
        // One reading of the wall clock for the commit's local events: their recorded_at, and
        // their stamps (the clock's counter orders the events within one reading).
        let wall = options.wallClock()

        func add(_ event: Event) {
            lineStarts.append(UInt32(ctx.activeSize + UInt64(out.bytes.count)))
            out.raw(event.line)
            out.raw(UInt8(ascii: "\n"))
            chains[event.origin] = (event.seq, event.hash)
            batchHashes[event.origin, default: BatchChain(firstSeq: event.seq)].hashes.append(event.hash)
            newOffsets.append(origin: event.origin, offset)
            offset += 1
        }

        for p in batch {
            switch p.work {
            case .local(let events):
                // Each line is written straight into the commit's buffer; the chain, the batch's
                // hashes and the offsets are this node's, taken out once for the whole append.
                var held = chains[nodeID]
                let firstSeq = (held?.seq ?? 0) + 1
                var hashes = batchHashes.removeValue(forKey: nodeID) ?? BatchChain(firstSeq: firstSeq)
                hashes.hashes.reserveCapacity(hashes.hashes.count + events.count)
                lineStarts.reserveCapacity(lineStarts.count + events.count)
                for e in events {
                    let seq = (held?.seq ?? 0) + 1
                    let draft = Event.Draft(
                        origin: nodeID, seq: seq, prev: held?.hash, hlc: ctx.clock.now(wall: wall),
                        recordedAtMillis: Int64(wall), type: e.type, sector: e.sector, data: e.data)
                    let signed = localIndex == signedIndex || (localIndex + 1) % signatureInterval == 0
                    lineStarts.append(UInt32(ctx.activeSize + UInt64(out.bytes.count)))
                    let written = Event.write(draft, signer: signed ? identity.privateKey : nil, into: &out)
                    out.raw(UInt8(ascii: "\n"))
                    localIndex += 1
                    held = (seq, written.hash)
                    hashes.hashes.append(written.hash)
                }
                chains[nodeID] = held
                batchHashes[nodeID] = hashes
                newOffsets.append(origin: nodeID, offset, count: events.count)
                let first = offset
                outcomes.append(.appended((0..<UInt64(events.count)).map { Appended(origin: nodeID, seq: firstSeq + $0, offset: first + $0) }))
                offset += UInt64(events.count)
            case .replicated(let events):
                var results: [IngestOutcome] = []
                results.reserveCapacity(events.count)
                for e in events {
                    // An event a damaged segment misses goes back into its slot, not to the end.
                    if !ctx.repair.missing.isEmpty, let outcome = repairOutcome(e, chains: &chains) {
                        if case .stored = outcome { repairsStaged = true }
                        results.append(outcome)
                        continue
                    }
                    let held = chains[e.origin]
                    let heldSeq = held?.seq ?? 0
                    if e.seq <= heldSeq {
                        let heldHash = e.seq == heldSeq ? held!.hash : (batchHashes[e.origin]?[e.seq] ?? storedHash(origin: e.origin, seq: e.seq))
                        if heldHash == e.hash {
                            results.append(.duplicate)
                        } else {
                            forks += 1
                            logger.error(
                                "fork: a different event for an origin and seq already held",
                                metadata: [
                                    "event.id": "\(e.id)", "event.hash_held": "\(heldHash?.hex ?? "?")",
                                    "event.hash_received": "\(e.hash.hex)",
                                ])
                            results.append(.refused(.fork, "\(e.id) is held with hash \(heldHash?.hex ?? "?"), received \(e.hash.hex)"))
                        }
                    } else if e.seq > heldSeq + 1 {
                        results.append(.refused(.gap, "\(e.id) is beyond the next seq \(heldSeq + 1) of \(e.origin)"))
                    } else if e.prev != held?.hash {
                        results.append(.refused(.badChain, "\(e.id) prev does not match the hash held for seq \(heldSeq)"))
                    } else {
                        ctx.clock.observe(e.hlc)
                        results.append(.stored(offset: offset))
                        add(e)
                    }
                }
                outcomes.append(.ingested(results))
            }
        }

        // Repaired events are rewritten into their segments first: a failure there fails the
        // commit before anything is appended.
        var swaps: [SegmentSwap] = []
        if repairsStaged {
            let (done, error) = writeRepairs()
            swaps = done
            if let error {
                index.withLock { Self.apply(swaps, to: &$0) }
                fail(batch, error)
                return
            }
        }
        let buffer = out.bytes
        if !buffer.isEmpty, let error = writeAndSync(buffer) {
            // Cut what may have reached the file, so no event answered with an error turns up
            // after a restart. Best effort: the failure is sticky either way.
            if ftruncate(ctx.activeFD, off_t(ctx.activeSize)) == 0 { ctx.reservedEnd = ctx.activeSize }
            fail(batch, error)
            return
        }
        ctx.activeSize += UInt64(buffer.count)
        ctx.chains = chains
        let newSize = ctx.activeSize
        let subscribers = index.withLock { state -> [AsyncStream<Void>.Continuation] in
            let last = state.segments.count - 1
            state.segments[last].lineStarts.append(contentsOf: lineStarts)
            state.segments[last].size = newSize
            for run in newOffsets {
                state.origins[run.origin, default: IndexState.Origin()].offsets.append(contentsOf: run.offset..<(run.offset + UInt64(run.count)))
            }
            state.count = offset
            state.forks += forks
            if repairsStaged {
                Self.apply(swaps, to: &state)
                state.damage = ctx.repair.report
            }
            return Array(state.subscribers.values)
        }
        for (p, r) in zip(batch, outcomes) { p.continuation.resume(returning: .success(r)) }
        if !swaps.isEmpty { publishRepaired(swaps.flatMap(\.repaired)) }
        if !lineStarts.isEmpty || !swaps.isEmpty { for s in subscribers { s.yield() } }
        countStored(newOffsets)
    }

    /// Adds a commit's events to `incidentlog_events_stored_total`, one increment per origin.
    func countStored(_ stored: [OriginRun]) {
        guard !stored.isEmpty else { return }
        var perOrigin: [String: Int64] = [:]
        for run in stored { perOrigin[run.origin, default: 0] += Int64(run.count) }
        for (origin, n) in perOrigin {
            let counter = writerContext.storedCounters[origin] ?? metrics.stored(origin: origin)
            writerContext.storedCounters[origin] = counter
            counter.increment(by: n)
        }
    }

    /// The position, among the local events of the batch, of the last one: it carries a signature
    /// (as does every `signatureInterval`-th one before it).
    static func lastLocalEventIndex(_ batch: [PendingAppend]) -> Int {
        var count = 0
        for p in batch { if case .local(let events) = p.work { count += events.count } }
        return count - 1
    }

    /// The hash of a committed event, read back from its segment (forks are rare; this is not a hot path).
    func storedHash(origin: String, seq: UInt64) -> EventHash? {
        guard let offset = offset(origin: origin, seq: seq), let line = try? readLines(from: offset, limit: 1).first else {
            return nil
        }
        return try? Event.parse(line: line).hash
    }

    /// Writes a commit at the end of the active segment's data and syncs it. When the commit runs
    /// past the reserved tail, the tail is extended in the same sync: zeros written after the
    /// commit up to `preallocationBytes` beyond it (not past the segment size limit), so that the
    /// syncs of the commits that follow have no file size or extent to commit.
    func writeAndSync(_ buffer: [UInt8]) -> StoreError? {
        let ctx = writerContext
        let fd = ctx.activeFD
        if let code = buffer.withUnsafeBytes({ POSIX.pwriteAll(fd, $0, offset: ctx.activeSize) }) {
            return StoreError(.storeFailed, "write failed: \(POSIX.errnoText(code))")
        }
        let end = ctx.activeSize + UInt64(buffer.count)
        if end > ctx.reservedEnd {
            let target = max(end, min(end + options.preallocationBytes, options.segmentBytes))
            if let code = POSIX.writeZeros(fd, count: target - end, offset: end) {
                return StoreError(.storeFailed, "cannot reserve segment space: \(POSIX.errnoText(code))")
            }
            ctx.reservedEnd = target
        }
        if options.fsync == .always {
            if let injector = options.syncFaultInjector, !injector() {
                return StoreError(.storeFailed, "fdatasync failed: \(POSIX.errnoText(EIO)) (injected)")
            }
            let started = ContinuousClock.now
            let failure = POSIX.syncData(fd)
            metrics.fsync.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1)))
            if let code = failure {
                return StoreError(.storeFailed, "fdatasync failed: \(POSIX.errnoText(code))")
            }
        }
        return nil
    }

    /// Makes the failure sticky: a write or fsync error leaves the file in a state the writer
    /// cannot vouch for, so nothing more is appended until a restart runs recovery.
    func fail(_ batch: [PendingAppend], _ error: StoreError) {
        logger.error(
            "store write failed; refusing appends until restart",
            metadata: ["store.error": "\(error.message)", "store.dir": "\(directory)"])
        index.withLock { $0.failed = error }
        for p in batch { p.continuation.resume(returning: .failure(error)) }
    }

    /// Seals the active segment and starts the next, fsyncing the directory so the new file's
    /// name is durable before any event in it is acknowledged.
    /// The segment it seals loses its reserved tail first, durably, so a sealed segment ends with
    /// its last line.
    func rollSegment() -> StoreError? {
        if let error = trimReservedTail() { return error }
        let firstOffset = index.withLock { $0.count }
        let name = SegmentName.fileName(firstOffset: firstOffset)
        let path = segmentsDirectory + "/" + name
        let wfd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard wfd >= 0 else { return StoreError(.storeFailed, "cannot create segment \(path): \(POSIX.errnoText())") }
        let rfd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard rfd >= 0 else {
            Glibc.close(wfd)
            return StoreError(.storeFailed, "cannot open segment \(path): \(POSIX.errnoText())")
        }
        if options.fsync == .always, let code = POSIX.fsyncDirectory(segmentsDirectory) {
            Glibc.close(wfd)
            Glibc.close(rfd)
            return StoreError(.storeFailed, "cannot fsync \(segmentsDirectory): \(POSIX.errnoText(code))")
        }
        Glibc.close(writerContext.activeFD)
        writerContext.activeFD = wfd
        writerContext.activeSize = 0
        writerContext.reservedEnd = 0
        index.withLock { state in
            state.segments.append(
                IndexState.Segment(firstOffset: firstOffset, name: name, readFD: rfd, lineStarts: [], size: 0))
        }
        logger.info("segment started", metadata: ["store.segment": "\(name)"])
        return nil
    }

    /// Cuts the active segment back to its data (ftruncate, then fsync under `fsync: always`).
    @discardableResult
    func trimReservedTail() -> StoreError? {
        let ctx = writerContext
        guard ctx.reservedEnd > ctx.activeSize else { return nil }
        guard ftruncate(ctx.activeFD, off_t(ctx.activeSize)) == 0 else {
            return StoreError(.storeFailed, "cannot trim the active segment's reserved tail: \(POSIX.errnoText())")
        }
        ctx.reservedEnd = ctx.activeSize
        if options.fsync == .always, fsync(ctx.activeFD) != 0 {
            return StoreError(.storeFailed, "cannot fsync the trimmed active segment: \(POSIX.errnoText())")
        }
        return nil
    }
}

/// Events of one origin stored at consecutive offsets of a commit.
struct OriginRun {
    var origin: String
    var offset: UInt64
    var count: Int
}

extension [OriginRun] {
    /// Adds `count` events of `origin` at `offset`, to the last run when they follow on from it.
    mutating func append(origin: String, _ offset: UInt64, count: Int = 1) {
        if let last = self.last, last.origin == origin, last.offset + UInt64(last.count) == offset {
            self[self.count - 1].count += count
        } else {
            append(OriginRun(origin: origin, offset: offset, count: count))
        }
    }
}

/// The hashes a commit adds for one origin: its seqs follow on from the chain held before, so
/// they are consecutive from `firstSeq`.
struct BatchChain {
    var firstSeq: UInt64
    var hashes: [EventHash] = []

    subscript(seq: UInt64) -> EventHash? {
        guard seq >= firstSeq, seq - firstSeq < UInt64(hashes.count) else { return nil }
        return hashes[Int(seq - firstSeq)]
    }
}

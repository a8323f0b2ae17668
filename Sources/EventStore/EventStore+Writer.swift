import Foundation
import IncidentModel
import Logging
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
        let thread = Thread { store.writerLoop() }
        thread.name = "incidentd-writer"
        thread.start()
    }
}

extension EventStore {
    func writerLoop() {
        while true {
            wake.wait()
            while true {
                let (batch, closing) = queue.withLock { q -> ([PendingAppend], Bool) in
                    var taken: [PendingAppend] = []
                    var bytes = 0
                    while !q.pending.isEmpty, taken.isEmpty || bytes + q.pending[0].bytes <= options.maximumBatchBytes {
                        let next = q.pending.removeFirst()
                        bytes += next.bytes
                        taken.append(next)
                    }
                    return (taken, q.closing)
                }
                if batch.isEmpty {
                    if closing {
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
        let totalEvents = batch.reduce(0) { $0 + $1.events.count }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(batch.reduce(0) { $0 + $1.bytes })
        var lineStarts: [UInt32] = []
        lineStarts.reserveCapacity(totalEvents)
        var results: [[Appended]] = []
        results.reserveCapacity(batch.count)
        let savedChain = ctx.chains[nodeID]
        var chain = savedChain ?? (seq: 0, hash: EventHash(w0: 0, w1: 0, w2: 0, w3: 0))
        var offset = firstOffset
        var written = 0
        for p in batch {
            var appended: [Appended] = []
            appended.reserveCapacity(p.events.count)
            for e in p.events {
                written += 1
                let seq = chain.seq + 1
                let draft = Event.Draft(
                    origin: nodeID, seq: seq, prev: seq == 1 ? nil : chain.hash, hlc: ctx.clock.now(),
                    recordedAtMillis: Int64(options.wallClock()), type: e.type, sector: e.sector, data: e.data)
                let event = Event.encode(draft, signer: written == totalEvents ? identity.privateKey : nil)
                lineStarts.append(UInt32(ctx.activeSize + UInt64(buffer.count)))
                buffer.append(contentsOf: event.line)
                buffer.append(UInt8(ascii: "\n"))
                chain = (seq, event.hash)
                appended.append(Appended(id: "\(nodeID):\(seq)", seq: seq, offset: offset))
                offset += 1
            }
            results.append(appended)
        }

        if let error = writeAndSync(buffer) {
            fail(batch, error)
            return
        }
        ctx.activeSize += UInt64(buffer.count)
        ctx.chains[nodeID] = chain
        let newSize = ctx.activeSize
        let subscribers = index.withLock { state -> [AsyncStream<Void>.Continuation] in
            let last = state.segments.count - 1
            state.segments[last].lineStarts.append(contentsOf: lineStarts)
            state.segments[last].size = newSize
            state.origins[nodeID, default: IndexState.Origin()].offsets.append(contentsOf: firstOffset..<offset)
            state.count = offset
            return Array(state.subscribers.values)
        }
        for (p, r) in zip(batch, results) { p.continuation.resume(returning: .success(r)) }
        for s in subscribers { s.yield() }
    }

    func writeAndSync(_ buffer: [UInt8]) -> StoreError? {
        let fd = writerContext.activeFD
        if let code = buffer.withUnsafeBytes({ POSIX.writeAll(fd, $0) }) {
            return StoreError(.storeFailed, "write failed: \(POSIX.errnoText(code))")
        }
        if options.fsync == .always {
            if let injector = options.syncFaultInjector, !injector() {
                return StoreError(.storeFailed, "fdatasync failed: \(POSIX.errnoText(EIO)) (injected)")
            }
            if let code = POSIX.syncData(fd) {
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
    func rollSegment() -> StoreError? {
        let firstOffset = index.withLock { $0.count }
        let name = SegmentName.fileName(firstOffset: firstOffset)
        let path = segmentsDirectory + "/" + name
        let wfd = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o640)
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
        index.withLock { state in
            state.segments.append(
                IndexState.Segment(firstOffset: firstOffset, name: name, readFD: rfd, lineStarts: [], size: 0))
        }
        logger.info("segment started", metadata: ["store.segment": "\(name)"])
        return nil
    }
}

public import IncidentModel
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EventStore {
    /// The stored lines (without newlines) of the offsets from `offset` on, at most `limit`
    /// offsets, exactly as on disk. Offsets a damaged segment hides give no line, so a reader
    /// that walks the log goes on from `readLineRun`'s `next`, not from the count of lines.
    public func readLines(from offset: UInt64, limit: Int) throws(StoreError) -> [[UInt8]] {
        try readLineRun(from: offset, limit: limit).lines
    }

    /// Lines read from the log, with the offset of each, and the offset to read on from.
    public struct LineRun: Sendable {
        public var lines: [[UInt8]] = []
        public var offsets: [UInt64] = []
        public var next: UInt64
    }

    /// The stored lines of at most `limit` offsets from `offset`, each with its offset, and the
    /// offset after the last one covered (damaged slots are stepped over).
    public func readLineRun(from offset: UInt64, limit: Int) throws(StoreError) -> LineRun {
        let (blocks, next) = try readLineBlocks(from: offset, limit: limit)
        var run = LineRun(next: next)
        for block in blocks {
            for i in 0..<block.count {
                run.lines.append(Array(block.bytes[block.range(ofLine: i)]))
                run.offsets.append(block.firstOffset + UInt64(i))
            }
        }
        return run
    }

    /// The stored lines of at most `limit` offsets from `offset`, as blocks (`readLineBlock`),
    /// each holding lines, and the offset after the last one covered (damaged slots are stepped
    /// over).
    public func readLineBlocks(from offset: UInt64, limit: Int) throws(StoreError) -> (blocks: [EventLineBlock], next: UInt64) {
        var blocks: [EventLineBlock] = []
        var next = offset
        let end = offset &+ UInt64(max(0, limit))
        // A block stops at a segment's end or a damaged slot; the next one goes on after it.
        while next < end, let block = try readLineBlock(from: next, limit: Int(end - next)) {
            if block.count > 0 { blocks.append(block) }
            next += UInt64(block.span)
        }
        return (blocks, next)
    }

    /// Stored lines from `offset`, at most `limit` and at most one segment's worth, read with one
    /// `pread` into one buffer (what a reader of the whole log wants: no array or `Event` per
    /// line). A block stops before a damaged slot; at one, it has no lines and spans the run of
    /// slots. Nil when nothing is stored at `offset`.
    public func readLineBlock(from offset: UInt64, limit: Int) throws(StoreError) -> EventLineBlock? {
        guard limit > 0 else { return nil }
        enum Span {
            case lines(fd: Int32, start: UInt64, starts: [Int], end: UInt64)
            case slots(Int)
        }
        // The positions are copied under the lock: a slice kept past it would make the writer's
        // next append copy the segment's whole position array.
        let span: Span? = index.withLock { state in
            guard !state.closed, offset < state.count else { return nil }
            var lo = 0
            var hi = state.segments.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if state.segments[mid].firstOffset <= offset { lo = mid } else { hi = mid - 1 }
            }
            let s = state.segments[lo]
            let first = Int(offset - s.firstOffset)
            guard first < s.lineStarts.count else { return nil }
            let run = s.slotRun(at: first)
            if run.isSlot { return .slots(min(run.end, first + limit) - first) }
            let last = min(s.lineStarts.count, first + limit, run.end)
            let end = last < s.lineStarts.count ? UInt64(s.lineStarts[last]) : s.size
            let base = s.lineStarts[first]
            return .lines(fd: s.readFD, start: UInt64(base), starts: s.lineStarts[first..<last].map { Int($0 - base) }, end: end)
        }
        switch span {
        case nil: return nil
        case .slots(let n): return EventLineBlock(bytes: [], starts: [], firstOffset: offset, span: n)
        case .lines(let fd, let start, let starts, let end):
            guard let bytes = POSIX.preadAll(fd, count: Int(end - start), offset: start)
            else { throw StoreError(.io, "cannot read segment: \(POSIX.errnoText())") }
            return EventLineBlock(bytes: bytes, starts: starts, firstOffset: offset)
        }
    }

    /// Stored events of at most `limit` offsets from `offset` (see `readLines` on damaged slots).
    public func read(from offset: UInt64, limit: Int) throws(StoreError) -> [Event] {
        try readLines(from: offset, limit: limit).map { line throws(StoreError) in try Event.parseStored(line) }
    }

    /// The local offset of an origin's event, when held (not when a damaged segment hides it).
    public func offset(origin: String, seq: UInt64) -> UInt64? {
        index.withLock { state in
            guard seq >= 1, let o = state.origins[origin], seq <= UInt64(o.offsets.count) else { return nil }
            if let missing = state.missing[origin], missing.contains(seq) { return nil }
            return o.offsets[Int(seq - 1)]
        }
    }

    /// An event by its id `origin:seq`. `checkingData: false` reads it back to show values of
    /// its `data`, without walking `data` again (see `Event.parse(line:checkingData:)`).
    public func event(id: String, checkingData: Bool = true) throws(StoreError) -> Event? {
        guard let colon = id.lastIndex(of: ":"), let seq = UInt64(id[id.index(after: colon)...]) else { return nil }
        guard let offset = offset(origin: String(id[..<colon]), seq: seq),
            let line = try readLines(from: offset, limit: 1).first
        else { return nil }
        return try Event.parseStored(line, checkingData: checkingData)
    }
}

/// Reads a run of the log block by block, from an offset up to an end: the source of a reader
/// that walks many lines (the projection rebuild). One reader at a time may call `next`.
public final class LineBlockReader: Sendable {
    let store: EventStore
    let end: UInt64
    let blockLines: Int
    let cursor: Mutex<UInt64>

    /// Lines from `offset` up to, not including, `end`, `blockLines` at most per block.
    public init(store: EventStore, from offset: UInt64, to end: UInt64, blockLines: Int = 8192) {
        self.store = store
        self.end = end
        self.blockLines = max(1, blockLines)
        self.cursor = Mutex(offset)
    }

    /// The next block, or nil at the end (or when the store holds nothing more). A block of a
    /// run of damaged slots has no lines (see `EventLineBlock.span`).
    public func next() throws(StoreError) -> EventLineBlock? {
        try cursor.withLock { offset throws(StoreError) -> EventLineBlock? in
            guard offset < end,
                let block = try store.readLineBlock(from: offset, limit: Int(min(UInt64(blockLines), end - offset)))
            else { return nil }
            offset += UInt64(block.span)
            return block
        }
    }
}

extension Event {
    /// A line the store holds, parsed; a failure is the store's (`corrupt_segment`).
    static func parseStored(_ line: [UInt8], checkingData: Bool = true) throws(StoreError) -> Event {
        do {
            return try Event.parse(line: line, checkingData: checkingData)
        } catch {
            throw StoreError(.corrupt, "stored line does not parse: \(error)")
        }
    }
}

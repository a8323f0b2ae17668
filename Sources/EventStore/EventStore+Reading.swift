public import IncidentModel
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EventStore {
    /// The stored lines (without newlines) from `offset`, at most `limit`, exactly as on disk.
    public func readLines(from offset: UInt64, limit: Int) throws(StoreError) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var next = offset
        // A block stops at a segment's end; the next one goes on in the following segment.
        while lines.count < limit, let block = try readLineBlock(from: next, limit: limit - lines.count) {
            for i in 0..<block.count { lines.append(Array(block.bytes[block.range(ofLine: i)])) }
            next += UInt64(block.count)
        }
        return lines
    }

    /// Stored lines from `offset`, at most `limit` and at most one segment's worth, read with one
    /// `pread` into one buffer (what a reader of the whole log wants: no array or `Event` per
    /// line). Nil when nothing is stored at `offset`.
    public func readLineBlock(from offset: UInt64, limit: Int) throws(StoreError) -> EventLineBlock? {
        guard limit > 0 else { return nil }
        // The positions are copied under the lock: a slice kept past it would make the writer's
        // next append copy the segment's whole position array.
        let span: (fd: Int32, start: UInt64, starts: [Int], end: UInt64)? = index.withLock { state in
            guard !state.closed, offset < state.count else { return nil }
            var lo = 0
            var hi = state.segments.count - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if state.segments[mid].firstOffset <= offset { lo = mid } else { hi = mid - 1 }
            }
            let s = state.segments[lo]
            let first = Int(offset - s.firstOffset)
            let last = min(s.lineStarts.count, first + limit)
            guard first < last else { return nil }
            let end = last < s.lineStarts.count ? UInt64(s.lineStarts[last]) : s.size
            let base = s.lineStarts[first]
            return (s.readFD, UInt64(base), s.lineStarts[first..<last].map { Int($0 - base) }, end)
        }
        guard let span else { return nil }
        guard let bytes = POSIX.preadAll(span.fd, count: Int(span.end - span.start), offset: span.start)
        else { throw StoreError(.io, "cannot read segment: \(POSIX.errnoText())") }
        return EventLineBlock(bytes: bytes, starts: span.starts, firstOffset: offset)
    }

    /// Stored events from `offset`, at most `limit`.
    public func read(from offset: UInt64, limit: Int) throws(StoreError) -> [Event] {
        try readLines(from: offset, limit: limit).map { line throws(StoreError) in
            do {
                return try Event.parse(line: line)
            } catch {
                throw StoreError(.corrupt, "stored line does not parse: \(error)")
            }
        }
    }

    /// The local offset of an origin's event, when held.
    public func offset(origin: String, seq: UInt64) -> UInt64? {
        index.withLock { state in
            guard seq >= 1, let o = state.origins[origin], seq <= UInt64(o.offsets.count) else { return nil }
            return o.offsets[Int(seq - 1)]
        }
    }

    /// An event by its id `origin:seq`.
    public func event(id: String) throws(StoreError) -> Event? {
        guard let colon = id.lastIndex(of: ":"), let seq = UInt64(id[id.index(after: colon)...]) else { return nil }
        guard let offset = offset(origin: String(id[..<colon]), seq: seq) else { return nil }
        return try read(from: offset, limit: 1).first
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

    /// The next block, or nil at the end (or when the store holds nothing more).
    public func next() throws(StoreError) -> EventLineBlock? {
        try cursor.withLock { offset throws(StoreError) -> EventLineBlock? in
            guard offset < end,
                let block = try store.readLineBlock(from: offset, limit: Int(min(UInt64(blockLines), end - offset)))
            else { return nil }
            offset += UInt64(block.count)
            return block
        }
    }
}

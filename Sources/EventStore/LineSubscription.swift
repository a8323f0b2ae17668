public import IncidentModel

/// A stored line with its origin and seq (`EventHead`), not otherwise parsed.
public struct StoredLine: Sendable {
    public let line: [UInt8]
    public let origin: String
    public let seq: UInt64
}

/// Newly stored lines with their heads read, as batches (`EventStore.subscribeLines`).
public typealias LineSubscription = StoreSubscription<StoredLine>

/// Newly stored lines as blocks, in batches (`EventStore.subscribeBlocks`).
public typealias BlockSubscription = StoreSubscription<EventLineBlock>

extension EventStore {
    /// Like `subscribe`, but delivers stored lines with only their head read: for senders that
    /// pass lines on as stored (a peer link) and need not pay for a full parse of each event.
    public func subscribeLines(from offset: UInt64, batchLimit: Int = 1024) -> LineSubscription {
        subscription(from: offset, batchLimit: batchLimit) { store, from, limit in
            let run = try store.readLineRun(from: from, limit: limit)
            let lines = try zip(run.lines, run.offsets).map { line, offset throws(StoreError) in
                guard let head = EventHead(line: line) else {
                    throw StoreError(.corrupt, "stored line at offset \(offset) has no origin and seq")
                }
                return StoredLine(line: line, origin: head.origin, seq: head.seq)
            }
            return (lines, run.next)
        }
    }

    /// Like `subscribe`, but delivers each batch as blocks of stored lines, each read with one
    /// `pread` into one buffer (`readLineBlocks`): for the projection fold, which reads what it
    /// needs from the lines themselves and need not pay for an array and an `Event` per line.
    /// Damaged slots are stepped over, as by `subscribe`; a block always holds lines.
    public func subscribeBlocks(from offset: UInt64, batchLimit: Int = 1024) -> BlockSubscription {
        subscription(from: offset, batchLimit: batchLimit) { store, from, limit in try store.readLineBlocks(from: from, limit: limit) }
    }
}

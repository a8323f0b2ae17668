public import IncidentModel

/// A stored line with its origin and seq (`EventHead`), not otherwise parsed.
public struct StoredLine: Sendable {
    public let line: [UInt8]
    public let origin: String
    public let seq: UInt64
}

extension EventStore {
    /// Like `subscribe`, but delivers stored lines with only their head read: for senders that
    /// pass lines on as stored (a peer link) and need not pay for a full parse of each event.
    public func subscribeLines(from offset: UInt64, batchLimit: Int = 1024) -> LineSubscription {
        LineSubscription(events: subscribe(from: offset, batchLimit: batchLimit))
    }
}

/// An `AsyncSequence` of batches of newly stored lines (see `EventStore.subscribeLines`).
public struct LineSubscription: AsyncSequence, Sendable {
    public typealias Element = [StoredLine]
    let events: EventSubscription

    public func makeAsyncIterator() -> Iterator {
        Iterator(store: events.store, cursor: events.cursor, batchLimit: events.batchLimit, signals: events.signals.makeAsyncIterator())
    }

    public struct Iterator: AsyncIteratorProtocol {
        var base: SubscriptionCursor
        /// The offset of the next line to deliver.
        public var cursor: UInt64 { base.cursor }

        init(store: EventStore, cursor: UInt64, batchLimit: Int, signals: AsyncStream<Void>.Iterator) {
            base = SubscriptionCursor(store: store, cursor: cursor, batchLimit: batchLimit, signals: signals)
        }

        public mutating func next() async throws -> [StoredLine]? {
            try await base.next { store, from, limit in
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
    }
}

extension EventStore {
    /// Like `subscribe`, but delivers each batch as blocks of stored lines, each read with one
    /// `pread` into one buffer (`readLineBlock`): for the projection fold, which reads what it
    /// needs from the lines themselves and need not pay for an array and an `Event` per line.
    /// Damaged slots are stepped over, as by `subscribe`; a block always holds lines.
    public func subscribeBlocks(from offset: UInt64, batchLimit: Int = 1024) -> BlockSubscription {
        BlockSubscription(events: subscribe(from: offset, batchLimit: batchLimit))
    }
}

/// An `AsyncSequence` of batches of newly stored lines in blocks (see `EventStore.subscribeBlocks`).
public struct BlockSubscription: AsyncSequence, Sendable {
    public typealias Element = [EventLineBlock]
    let events: EventSubscription

    public func makeAsyncIterator() -> Iterator {
        Iterator(store: events.store, cursor: events.cursor, batchLimit: events.batchLimit, signals: events.signals.makeAsyncIterator())
    }

    public struct Iterator: AsyncIteratorProtocol {
        var base: SubscriptionCursor
        /// The offset of the next line to deliver.
        public var cursor: UInt64 { base.cursor }

        init(store: EventStore, cursor: UInt64, batchLimit: Int, signals: AsyncStream<Void>.Iterator) {
            base = SubscriptionCursor(store: store, cursor: cursor, batchLimit: batchLimit, signals: signals)
        }

        public mutating func next() async throws -> [EventLineBlock]? {
            try await base.next { store, from, limit in
                var blocks: [EventLineBlock] = []
                var next = from
                let end = from &+ UInt64(Swift.max(0, limit))
                // A block stops at a segment's end or a damaged slot; the next one goes on after it.
                while next < end, let block = try store.readLineBlock(from: next, limit: Int(end - next)) {
                    if block.count > 0 { blocks.append(block) }
                    next += UInt64(block.span)
                }
                return (blocks, next)
            }
        }
    }
}

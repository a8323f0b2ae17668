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
        let store: EventStore
        /// The offset of the next line to deliver.
        public private(set) var cursor: UInt64
        let batchLimit: Int
        var signals: AsyncStream<Void>.Iterator

        public mutating func next() async throws -> [StoredLine]? {
            while true {
                if store.count > cursor {
                    let lines = try store.readLines(from: cursor, limit: batchLimit)
                    var out: [StoredLine] = []
                    out.reserveCapacity(lines.count)
                    for (i, line) in lines.enumerated() {
                        guard let head = EventHead(line: line) else {
                            throw StoreError(.corrupt, "stored line at offset \(cursor + UInt64(i)) has no origin and seq")
                        }
                        out.append(StoredLine(line: line, origin: head.origin, seq: head.seq))
                    }
                    cursor += UInt64(lines.count)
                    if !out.isEmpty { return out }
                }
                guard await signals.next() != nil else { return nil }
            }
        }
    }
}

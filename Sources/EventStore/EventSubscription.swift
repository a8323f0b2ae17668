public import IncidentModel

extension EventStore {
    /// New events from `offset` on, in log order, as batches. The sequence ends when the store
    /// closes. Buffering is bounded: the store only signals "there is more" (a buffer of one), and
    /// the subscriber reads at its own pace from the log, so a slow subscriber costs no memory.
    public func subscribe(from offset: UInt64, batchLimit: Int = 1024) -> EventSubscription {
        subscription(from: offset, batchLimit: batchLimit) { store, from, limit in
            let run = try store.readLineRun(from: from, limit: limit)
            return (try run.lines.map { line throws(StoreError) in try Event.parseStored(line) }, run.next)
        }
    }

    /// A subscription whose batches `read` makes from the log (at most `limit` offsets from
    /// `from`, and the offset it read up to).
    func subscription<Item>(
        from offset: UInt64, batchLimit: Int, read: @escaping StoreSubscription<Item>.Read
    ) -> StoreSubscription<Item> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        register(continuation, in: \.subscribers)
        return StoreSubscription(store: self, cursor: offset, batchLimit: batchLimit, signals: stream, read: read)
    }

    /// Adds a subscriber's continuation to one of the index's tables until its stream ends (at
    /// once when the store is closed).
    func register<T>(_ continuation: AsyncStream<T>.Continuation, in table: any WritableKeyPath<IndexState, [Int: AsyncStream<T>.Continuation]> & Sendable) {
        let id = index.withLock { state -> Int? in
            guard !state.closed else { return nil }
            let id = state.nextSubscriberID
            state.nextSubscriberID += 1
            state[keyPath: table][id] = continuation
            return id
        }
        guard let id else {
            continuation.finish()
            return
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.index.withLock { $0[keyPath: table].removeValue(forKey: id) }
        }
    }
}

extension EventStore {
    /// One element after each commit that stored something (a buffer of one: signals that
    /// arrive while the reader is busy merge). Ends when the store closes.
    public func commitSignals() -> AsyncStream<Void> {
        subscribe(from: count).signals
    }
}

/// Newly stored events as batches (`EventStore.subscribe`).
public typealias EventSubscription = StoreSubscription<Event>

/// An `AsyncSequence` of batches of what is newly stored, each batch made from the log by `read`
/// (events, lines or blocks of lines: `subscribe`, `subscribeLines`, `subscribeBlocks`).
public struct StoreSubscription<Item: Sendable>: AsyncSequence, Sendable {
    public typealias Element = [Item]
    /// The items of at most `limit` offsets from an offset, and the offset read up to.
    public typealias Read = @Sendable (EventStore, UInt64, Int) throws -> ([Item], UInt64)
    let store: EventStore
    let cursor: UInt64
    let batchLimit: Int
    let signals: AsyncStream<Void>
    let read: Read

    public func makeAsyncIterator() -> Iterator {
        Iterator(base: SubscriptionCursor(store: store, cursor: cursor, batchLimit: batchLimit, signals: signals.makeAsyncIterator()), read: read)
    }

    public struct Iterator: AsyncIteratorProtocol {
        var base: SubscriptionCursor
        let read: Read
        /// The offset of the next item to deliver.
        public var cursor: UInt64 { base.cursor }

        public mutating func next() async throws -> [Item]? {
            try await base.next(read)
        }
    }
}

/// A subscription's cursor in the log, read on at each signal from the store.
struct SubscriptionCursor {
    let store: EventStore
    /// The offset of the next item to deliver.
    private(set) var cursor: UInt64
    let batchLimit: Int
    var signals: AsyncStream<Void>.Iterator

    init(store: EventStore, cursor: UInt64, batchLimit: Int, signals: AsyncStream<Void>.Iterator) {
        self.store = store
        self.cursor = cursor
        self.batchLimit = batchLimit
        self.signals = signals
    }

    /// The next non-empty batch `read` gives from the cursor (with the offset it read up to),
    /// waiting for the store when it has nothing more; nil once the store closes.
    mutating func next<T>(_ read: (EventStore, UInt64, Int) throws -> ([T], UInt64)) async throws -> [T]? {
        while true {
            if store.count > cursor {
                let (items, next) = try read(store, cursor, batchLimit)
                let advanced = next > cursor
                cursor = max(cursor, next)
                if !items.isEmpty { return items }
                // Only damaged slots were stepped over: read on without waiting.
                if advanced { continue }
            }
            guard await signals.next() != nil else { return nil }
        }
    }
}

import EventStore
import IncidentModel
import Testing

@Suite struct SubscriptionTests {
    @Test(.timeLimit(.minutes(1)))
    func subscriptionFromZeroDeliversExistingThenNewEventsInOrder() async throws {
        try await StoreHarness.with { h in
            let store = try h.open()
            _ = try await store.append([pending(1), pending(2)])
            _ = try await store.append([pending(3)])
            let subscription = store.subscribe(from: 0)
            let consumer = Task {
                var ids: [String] = []
                for try await batch in subscription {
                    ids += batch.map(\.id)
                    if ids.count >= 8 { break }
                }
                return ids
            }
            _ = try await store.append([pending(4)])
            _ = try await store.append([pending(5), pending(6)])
            _ = try await store.append([pending(7)])
            _ = try await store.append([pending(8)])
            #expect(try await consumer.value == (1...8).map { "gao:\($0)" })
            await store.close()
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func subscriptionFromAnOffsetStartsThereAndEndsWhenTheStoreCloses() async throws {
        try await StoreHarness.with { h in
            let store = try h.open()
            for n in 1...6 { _ = try await store.append([pending(n)]) }
            var iterator = store.subscribe(from: 4).makeAsyncIterator()
            #expect(try await iterator.next()?.map(\.id) == ["gao:5", "gao:6"])
            _ = try await store.append([pending(7), pending(8)])
            #expect(try await iterator.next()?.map(\.id) == ["gao:7", "gao:8"])
            await store.close()
            #expect(try await iterator.next() == nil)
        }
    }
}

@Suite struct LineSubscriptionTests {
    @Test(.timeLimit(.minutes(1)))
    func lineSubscriptionDeliversTheStoredBytesWithOriginAndSeq() async throws {
        try await StoreHarness.with { h in
            let store = try h.open()
            _ = try await store.append([pending(1), pending(2)])
            var iterator = store.subscribeLines(from: 1).makeAsyncIterator()
            let first = try await iterator.next() ?? []
            #expect(first.map(\.seq) == [2])
            _ = try await store.append([pending(3), pending(4)])
            let second = try await iterator.next() ?? []
            #expect(second.map(\.seq) == [3, 4])
            let delivered = first + second
            #expect(delivered.map(\.line) == (try store.readLines(from: 1, limit: 10)))
            #expect(delivered.allSatisfy { $0.origin == "gao" })
            await store.close()
            #expect(try await iterator.next() == nil)
        }
    }
}

@Suite struct BlockSubscriptionTests {
    /// Blocks hold the stored bytes line by line, one segment each, at most `batchLimit` lines a
    /// batch, and go on across segment boundaries and commits until the store closes.
    @Test(.timeLimit(.minutes(1)))
    func blocksDeliverEveryStoredLineAcrossSegments() async throws {
        var options = StoreOptions()
        options.segmentBytes = 1_000
        try await StoreHarness.with(options: options) { h in
            let store = try h.open()
            for n in 1...20 { _ = try await store.append([pending(n, note: String(repeating: "x", count: n % 5 * 40))]) }
            #expect(store.segmentCount >= 5)
            var iterator = store.subscribeBlocks(from: 1, batchLimit: 7).makeAsyncIterator()
            var delivered: [[UInt8]] = []
            var offsets: [UInt64] = []
            while delivered.count < 19, let batch = try await iterator.next() {
                #expect(batch.reduce(0) { $0 + $1.count } <= 7)
                for block in batch {
                    #expect(block.count > 0)
                    #expect(block.span == block.count)
                    for i in 0..<block.count {
                        delivered.append(Array(block.bytes[block.range(ofLine: i)]))
                        offsets.append(block.firstOffset + UInt64(i))
                    }
                }
            }
            #expect(delivered == (try store.readLines(from: 1, limit: 100)))
            #expect(offsets == Array(1...19))
            #expect(iterator.cursor == 20)

            _ = try await store.append([pending(21), pending(22)])
            let next = try await iterator.next() ?? []
            #expect(next.flatMap { b in (0..<b.count).map { Array(b.bytes[b.range(ofLine: $0)]) } } == (try store.readLines(from: 20, limit: 10)))
            await store.close()
            #expect(try await iterator.next() == nil)
        }
    }
}

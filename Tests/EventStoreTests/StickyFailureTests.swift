import EventStore
import IncidentModel
import Testing

@Suite struct StickyFailureTests {
    @Test func failedSyncMakesEveryLaterAppendFailUntilRestart() async throws {
        let syncs = Shared(0)
        var options = StoreOptions()
        options.fsync = .always
        // The second sync fails, as fdatasync does on EIO; every other one succeeds.
        options.syncFaultInjector = {
            syncs.update {
                $0 += 1
                return $0 != 2
            }
        }
        try await StoreHarness.with(options: options) { h in
            let store = try h.open()
            _ = try await store.append([pending(1)])
            #expect(store.failure == nil)

            let failed = await appendError(store, [pending(2)])
            #expect(failed?.code == .storeFailed)
            #expect(store.failure?.code == .storeFailed)
            let name = try #require(h.segmentNames().first)
            let size = h.fileSize(ofSegment: name)

            for n in 3...5 {
                let later = await appendError(store, [pending(n)])
                #expect(later?.code == .storeFailed)
            }
            // Refused without touching the file: the writer did not try again.
            #expect(syncs.current == 2)
            #expect(h.fileSize(ofSegment: name) == size)
            #expect(store.count == 1)
            #expect(h.logs.records(withMessage: "store write failed; refusing appends until restart").first?.level == .error)
            await store.close()

            // A restart runs recovery over what is on disk, and appends work again.
            let restarted = try h.open()
            #expect(restarted.failure == nil)
            let ack = try await restarted.append([pending(6)])
            let events = try restarted.read(from: 0, limit: 10)
            #expect(chainBreak(events) == nil)
            #expect(ack.map(\.id) == [events.last?.id])
            await restarted.close()
        }
    }
}

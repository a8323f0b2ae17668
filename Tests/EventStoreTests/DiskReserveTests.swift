import EventStore
import IncidentModel
import Testing

@Suite struct DiskReserveTests {
    @Test func appendBelowTheReserveIsRefusedWithoutWritingAndResumesWhenSpaceReturns() async throws {
        let reserve: UInt64 = 64 << 20
        let free = Shared<UInt64>(1 << 30)
        let probed = Shared<[String]>([])
        var options = StoreOptions()
        options.diskReserveBytes = reserve
        options.freeSpaceProbe = { path in
            probed.update { $0.append(path) }
            return free.current
        }
        try await StoreHarness.with(options: options) { h in
            let store = try h.open()
            _ = try await store.append([pending(1), pending(2)])
            let name = try #require(h.segmentNames().first)
            let size = h.fileSize(ofSegment: name)

            free.current = reserve - 1
            for events in [[pending(3)], [pending(3), pending(4), pending(5)]] {
                let error = await appendError(store, events)
                #expect(error?.code == .diskFull)
                #expect(store.count == 2)
                #expect(store.versionVector == VersionVector(["gao": 2]))
                #expect(h.fileSize(ofSegment: name) == size)
            }
            // Not a write failure: nothing sticky.
            #expect(store.failure == nil)
            #expect(h.logs.records(withMessage: "append refused: disk reserve reached").first?.level == .warning)
            #expect(!probed.current.isEmpty && probed.current.allSatisfy { $0 == h.directory })

            free.current = reserve
            let acks = try await store.append([pending(6)])
            #expect(acks.map(\.id) == ["gao:3"])
            #expect(acks.map(\.offset) == [2])
            let events = try store.read(from: 0, limit: 10)
            #expect(events.count == 3)
            #expect(chainBreak(events) == nil)
            await store.close()
        }
    }
}

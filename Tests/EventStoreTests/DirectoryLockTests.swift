import EventStore
import IncidentModel
import Testing

/// One store per data directory: `<dir>/LOCK` is held while a store is open, and only then.
@Suite struct DirectoryLockTests {
    @Test func secondStoreOnAnOpenDirectoryIsRefusedUntilTheFirstCloses() async throws {
        try await StoreHarness.with { h in
            let store = try h.open()
            _ = try await store.append([pending(1)])
            let segment = try #require(h.segmentNames().first)
            let before = h.bytes(ofSegment: segment)

            let error = h.openError()
            #expect(error?.code == .io)
            #expect(error?.message.contains("in use") == true)
            #expect(h.bytes(ofSegment: segment) == before)
            // The refused open did not disturb the open store.
            #expect(try await store.append([pending(2)]).map(\.id) == ["gao:2"])

            await store.close()
            let reopened = try h.open()
            #expect(reopened.count == 2)
            await reopened.close()
        }
    }

    @Test func failedOpenLeavesTheDirectoryUnlocked() async throws {
        try await StoreHarness.with { h in
            let store = try h.open()
            _ = try await store.append([pending(1)])
            await store.close()
            let segment = try #require(h.segmentNames().first)
            let good = h.bytes(ofSegment: segment)
            h.write(Array("garbage\n".utf8) + good, toSegment: segment)
            #expect(h.openError()?.code == .corrupt)

            // Repaired (as from a peer or a backup), the directory opens in the same process.
            h.write(good, toSegment: segment)
            let repaired = try h.open()
            #expect(repaired.count == 1)
            await repaired.close()
        }
    }
}

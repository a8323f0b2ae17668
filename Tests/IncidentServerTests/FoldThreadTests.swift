import EventStore
import Foundation
import IncidentModel
@testable import IncidentServer
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The live fold runs at a nice value 10 above the process's (at most 19), so that the write
/// path comes first on a busy CPU (`FoldThread`). Seen from the fold's own thread: the hook in
/// the middle of a batch reads the calling thread's nice value (Linux keeps one per thread; the
/// pool's threads have their own, set by libdispatch from their QoS, -2 here).
@Suite struct FoldThreadTests {
    @Test func theFoldRunsBelowTheProcesssPriority() async throws {
        let seen = Mutex<[Int32]>([])
        let hook: @Sendable () -> Void = {
            errno = 0
            let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
            seen.withLock { $0.append(errno == 0 ? nice : -100) }
        }
        try await ProjectionServiceTests.withService(midBatchHook: hook) { store, service in
            errno = 0
            let expected = min(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(getpid())) + 10, 19)

            // The first events may be folded by the catch-up at start, on a thread of the pool
            // (whose nice value libdispatch sets from its QoS, -2 here); the live fold takes over
            // after it. Events are appended one at a time until a batch is folded at the fold's
            // nice value.
            var appended = 0
            while appended < 20, !seen.withLock({ $0.contains(expected) }) {
                appended += 1
                _ = try await store.append([ProjectionServiceTests.reported("i-\(appended)")])
                #expect(await service.waitFolded(upTo: store.count, within: .seconds(10)))
            }
            // From then on, every batch.
            for k in 1...3 {
                _ = try await store.append([ProjectionServiceTests.reported("j-\(k)")])
                #expect(await service.waitFolded(upTo: store.count, within: .seconds(10)))
            }
            let values = seen.withLock { $0 }
            let first = try #require(values.firstIndex(of: expected), "no batch folded at nice \(expected): \(values)")
            #expect(values[first...].allSatisfy { $0 == expected }, "the fold's nice values \(values)")
        }
    }
}

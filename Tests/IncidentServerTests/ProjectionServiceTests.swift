import Dispatch
import EventStore
import Foundation
import IncidentModel
@testable import IncidentServer
import Logging
import Projections
import Synchronization
import Testing

/// Queries and the fold do not wait for each other: a view query is answered while a batch is
/// being folded, from the state after the previous whole batch.
@Suite struct ProjectionServiceTests {
    /// Holds the fold in the middle of a batch, with the fold's lock held, once closed.
    final class BatchGate: @unchecked Sendable {
        private let lock = NSLock()
        private var closed = false
        let held = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)

        func close() { lock.withLock { closed = true } }

        /// The fold's mid-batch hook: parks the fold until released (at most 20 s, so a failing
        /// test cannot hang the run).
        func hook() {
            guard lock.withLock({ closed }) else { return }
            lock.withLock { closed = false }
            held.signal()
            _ = release.wait(timeout: .now() + 20)
        }
    }

    static func reported(_ id: String) -> PendingEvent {
        PendingEvent(
            type: "incident.reported", sector: "east",
            data: Array(#"{"category":"ied","incident_id":"\#(id)","location":{"name":"Gao"},"occurred_at":"2026-11-28T06:40:00Z","summary":"s"}"#.utf8))
    }

    static func incidentTotal(_ view: [UInt8]?) -> Int64? {
        guard let view, case .number(let total)? = (try? JSONParser.parse(view))?["incidents"]?["total"] else { return nil }
        return Int64(total)
    }

    /// Runs `body` with a store in a new temporary directory and a projection service folding it
    /// (its `midBatchHook` given), then stops the service, closes the store and removes the
    /// directory.
    static func withService(
        midBatchHook: @escaping @Sendable () -> Void, _ body: (EventStore, ProjectionService) async throws -> Void
    ) async throws {
        var template = Array("/tmp/incidentlog-projection-service-XXXXXX".utf8CString)
        let directory = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "test")
        let store = try EventStore(directory: directory, nodeID: "hq", identity: NodeIdentity(privateKey: .init()), logger: logger)
        let service = ProjectionService(
            store: store, sectors: Sectors.defaultList, directory: directory, logger: logger, midBatchHook: midBatchHook, onCaughtUp: {})
        let running = Task { try await service.run() }
        func stop() async {
            running.cancel()
            _ = try? await running.value
            await store.close()
        }
        do {
            try await body(store, service)
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    @Test func aQueryDuringAHeldBatchSeesThePreviousBatch() async throws {
        let gate = BatchGate()
        try await Self.withService(midBatchHook: { gate.hook() }) { store, service in
            _ = try await store.append([Self.reported("first")])
            #expect(await service.waitFolded(upTo: store.count, within: .seconds(10)))
            #expect(Self.incidentTotal(service.views.sectorView("east")) == 1)

            // The next batch stops in the middle, its events folded into the state but not published
            // (the fold holds its lock there).
            gate.close()
            _ = try await store.append([Self.reported("second"), Self.reported("third")])
            // The waits and the query run on threads of their own: the fold, parked by the gate,
            // holds one of the cooperative pool's threads (one per core) meanwhile.
            #expect(try await Security.blocking { gate.held.wait(timeout: .now() + 10) } == .success)

            // Answered while the fold holds its lock: the state after the first batch.
            let answered = DispatchSemaphore(value: 0)
            let answer = Mutex<[UInt8]?>(nil)
            Thread {
                answer.withLock { $0 = service.views.sectorView("east") }
                answered.signal()
            }.start()
            let inTime = try await Security.blocking { answered.wait(timeout: .now() + 5) == .success }
            gate.release.signal()
            if !inTime { _ = try await Security.blocking { answered.wait(timeout: .now() + 20) } }
            #expect(inTime, "the query waited for the fold's batch")
            #expect(Self.incidentTotal(answer.withLock { $0 }) == 1)

            // Once the batch is whole, it is published whole.
            #expect(await service.waitFolded(upTo: store.count, within: .seconds(10)))
            #expect(Self.incidentTotal(service.views.sectorView("east")) == 3)
        }
    }
}

import Dispatch
@testable import EventStore
import IncidentModel
import Testing

@Suite struct CloseTests {
    @Test(.timeLimit(.minutes(1)))
    func closeCompletesQueuedAppendsThenRefusesNewOnes() async throws {
        // The first sync blocks on a gate, so the test can queue appends behind it and start
        // closing while they wait.
        let gate = DispatchSemaphore(value: 0)
        let inFirstSync = Shared(false)
        let syncs = Shared(0)
        var options = StoreOptions()
        options.syncFaultInjector = {
            if syncs.update({
                $0 += 1; return $0
            }) == 1 {
                inFirstSync.current = true
                gate.wait()
            }
            return true
        }
        try await StoreHarness.with(options: options) { h in
            let store = try h.open()
            defer { gate.signal() }  // never leave the writer blocked if the test fails early
            // The appends are submitted from this task and answered on the writer's thread, not
            // run as tasks: the unit tests' pool is busy with CPU-bound tests, and a task of this
            // one could start seconds late and miss a step's deadline.
            let answers = Shared<[Int: Result<[Appended], StoreError>]>([:])
            func submit(_ n: Int) {
                store.submitAppend([pending(n)], commitHere: false) { result in answers.update { $0[n] = result } }
            }
            submit(1)
            await eventually("the writer is in its first sync") { inFirstSync.current }
            for n in 2...11 { submit(n) }
            #expect(store.queue.withLock { $0.pending.count } == 10)
            let closing = Task { await store.close() }
            await eventually("close has begun") { store.queue.withLock { $0.closing } }

            // While closing, a new append is refused at once, not queued behind the blocked writer.
            #expect(immediateAppendError(store, [pending(99)])?.code == .closed)
            gate.signal()
            // The queued ones are not dropped.
            await eventually("every queued append is answered") { answers.current.count == 11 }
            let ids = answers.current.sorted { $0.key < $1.key }.map { n, result in (try? result.get())?.map(\.id) ?? ["refused: \(n)"] }
            #expect(ids == (1...11).map { ["gao:\($0)"] })
            await closing.value

            #expect(immediateAppendError(store, [pending(100)])?.code == .closed)

            // Every acknowledged append is in the log after a restart, and nothing else.
            h.options.syncFaultInjector = nil
            let reopened = try h.open()
            #expect(reopened.count == 11)
            #expect(chainBreak(try reopened.read(from: 0, limit: 20)) == nil)
            await reopened.close()
        }
    }

    @Test func appendAfterCloseIsRefusedAndClosingTwiceIsHarmless() async throws {
        try await StoreHarness.with { h in
            let store = try h.open()
            _ = try await store.append([pending(1)])
            await store.close()
            await store.close()
            let error = immediateAppendError(store, [pending(2)])
            #expect(error?.code == .closed)
            #expect(error?.code.rawValue == "shutting_down")
        }
    }

    /// Closing ends every subscription that is still open, the repaired events' too, and each
    /// stream's consumer sees its end. The stream's end runs its termination handler at once,
    /// which takes the store's lock: finished under it, the repaired events' stream crashed the
    /// node that failed to start (CI, "Recursive call to lock Mutex").
    @Test(.timeLimit(.minutes(1)))
    func closeEndsOpenSubscriptionsOfEveryKind() async throws {
        try await StoreHarness.with { h in
            let store = try h.open()
            _ = try await store.append([pending(1)])
            let repaired = store.repairedEvents()
            var events = store.subscribe(from: 1).makeAsyncIterator()
            await store.close()
            var ended = false
            for await _ in repaired {}
            ended = true
            #expect(ended)
            #expect(try await events.next() == nil)
        }
    }
}

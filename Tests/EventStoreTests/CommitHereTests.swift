import EventStore
import Foundation
import IncidentModel
import Synchronization
import Testing

/// `submitAppend(commitHere: true)`: with no commit running and none waiting, the submitting
/// thread commits its own append (no writer wake-up); with other submitters at the same time,
/// every append still lands exactly once, in one chain.
@Suite struct CommitHereTests {
    @Test(.timeLimit(.minutes(1)))
    func aLoneAppendIsCommittedOnTheSubmittingThread() async throws {
        try await StoreHarness.with { h in
            let store = try h.open()
            // The store just opened: the writer is idle and nothing waits.
            let outcome = Shared<(thread: UInt, appended: [Appended])?>(nil)
            let caller = Thread {
                let me = UInt(bitPattern: Int(bitPattern: pthread_self()))
                store.submitAppend([pending(1)], commitHere: true) { result in
                    outcome.current = (UInt(bitPattern: Int(bitPattern: pthread_self())), (try? result.get()) ?? [])
                }
                // Completed before submitAppend returned, on this thread.
                #expect(outcome.current?.thread == me)
            }
            caller.start()
            await eventually("the append is answered") { outcome.current != nil }
            #expect(outcome.current?.appended.map(\.id) == ["gao:1"])
            #expect(store.count == 1)
            #expect(try store.read(from: 0, limit: 10).map { Array($0.dataBytes) } == [pending(1).data])
            await store.close()
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func concurrentSubmittersEachLandOnceInOneChain() async throws {
        let threads = 8
        let perThread = 40
        try await StoreHarness.with { h in
            let store = try h.open()
            let acks = Shared<[Int: Appended]>([:])
            let failures = Shared(0)
            for t in 0..<threads {
                Thread {
                    for i in 0..<perThread {
                        let key = t * 1_000 + i
                        store.submitAppend([pending(key)], commitHere: true) { result in
                            switch result {
                            case .success(let a): acks.update { $0[key] = a[0] }
                            case .failure: failures.update { $0 += 1 }
                            }
                        }
                    }
                }.start()
            }
            let total = threads * perThread
            await eventually("every append is answered") { acks.current.count + failures.current == total }
            #expect(failures.current == 0)
            let events = try store.read(from: 0, limit: total + 10)
            #expect(events.count == total)
            #expect(chainBreak(events) == nil)
            #expect(Set(acks.current.values.map(\.offset)) == Set(0..<UInt64(total)))
            for (key, a) in acks.current { #expect(Array(events[Int(a.offset)].dataBytes) == pending(key).data) }
            // A liveness probe is still answered once the commits are done.
            #expect(await store.ping(timeout: .seconds(5)))
            await store.close()
            let reopened = try h.open()
            #expect(reopened.count == UInt64(total))
            await reopened.close()
        }
    }
}

import EventStore
import IncidentModel
import Testing

@Suite struct ConcurrentAppendTests {
    @Test(.timeLimit(.minutes(1)))
    func concurrentAppendsAreEachAcknowledgedOnceInOneChain() async throws {
        let tasks = 50
        let perTask = 20
        try await StoreHarness.with { h in
            let store = try h.open()
            let acks = try await withThrowingTaskGroup(of: [(task: Int, item: Int, ack: Appended)].self) { group in
                for t in 0..<tasks {
                    group.addTask {
                        var mine: [(task: Int, item: Int, ack: Appended)] = []
                        for i in 0..<perTask {
                            let ack = try await store.append([pending(t * 1_000 + i)])
                            #expect(ack.count == 1)
                            mine.append((t, i, ack[0]))
                        }
                        return mine
                    }
                }
                var all: [(task: Int, item: Int, ack: Appended)] = []
                for try await mine in group { all += mine }
                return all
            }

            let total = tasks * perTask
            #expect(acks.count == total)
            #expect(Set(acks.map(\.ack.seq)) == Set(1...UInt64(total)))
            #expect(acks.allSatisfy { $0.ack.offset == $0.ack.seq - 1 && $0.ack.id == "gao:\($0.ack.seq)" })
            // Each task's appends were sequential, so they are in its order in the log.
            for t in 0..<tasks {
                let seqs = acks.filter { $0.task == t }.sorted { $0.item < $1.item }.map(\.ack.seq)
                #expect(seqs == seqs.sorted())
            }

            let events = try store.read(from: 0, limit: total + 10)
            #expect(events.count == total)
            #expect(chainBreak(events) == nil)
            // The acknowledged offset holds exactly the event that was sent.
            for a in acks {
                #expect(Array(events[Int(a.ack.offset)].dataBytes) == pending(a.task * 1_000 + a.item).data)
            }
            #expect(Set(events.map { Array($0.dataBytes) }).count == total)
            // Group commit: each commit's last event is signed, so the log ends signed, and
            // every signature is the node's.
            #expect(events.last?.signature != nil)
            let signed = events.filter { $0.signature != nil }
            #expect(signed.allSatisfy { $0.signatureIsValid(publicKey: h.identity.publicKey) })
            #expect(store.count == UInt64(total))
            #expect(store.versionVector == VersionVector(["gao": UInt64(total)]))
            await store.close()

            let reopened = try h.open()
            #expect(reopened.count == UInt64(total))
            await reopened.close()
        }
    }
}

import EventStore
import IncidentModel
import Testing

@Suite struct AppendAndReadBackTests {
    @Test func appendedEventsReadBackExactly() async throws {
        try await StoreHarness.with { h in
            let wall = Shared<UInt64>(1_764_388_800_000)
            h.options.wallClock = { wall.current }
            let store = try h.open()
            let batches = [[pending(1)], [pending(2, sector: "north"), pending(3)], [pending(4), pending(5), pending(6, note: " «é» 🚁")]]
            var acks: [Appended] = []
            for batch in batches { acks += try await store.append(batch) }

            #expect(acks.map(\.id) == (1...6).map { "gao:\($0)" })
            #expect(acks.map(\.seq) == Array(1...6))
            #expect(acks.map(\.offset) == Array(0..<6))

            let events = try store.read(from: 0, limit: 100)
            #expect(events.count == 6)
            for (event, sent) in zip(events, batches.joined()) {
                #expect(event.origin == "gao")
                #expect(event.type == sent.type)
                #expect(event.sector == sent.sector)
                #expect(Array(event.dataBytes) == sent.data)
                #expect(event.recordedAt == "2025-11-29T04:00:00.000Z")
            }
            #expect(chainBreak(events) == nil)
            #expect(zip(events, events.dropFirst()).allSatisfy { $0.hlc < $1.hlc })
            // The last event of each commit (here: of each append call) carries the signature.
            #expect(events.map { $0.signature != nil } == [true, false, true, false, false, true])
            #expect(events.filter { $0.signature != nil }.allSatisfy { $0.signatureIsValid(publicKey: h.identity.publicKey) })

            // On disk: exactly the lines, one per event, each followed by a newline, then the
            // open segment's reserved tail of zeros.
            let names = h.segmentNames()
            #expect(names == ["00000000000000000000.jsonl"])
            let file = h.bytes(ofSegment: names[0])
            let lines = Array(events.map { $0.line + [UInt8(ascii: "\n")] }.joined())
            #expect(file.count > lines.count && Array(file.prefix(lines.count)) == lines)
            #expect(file.dropFirst(lines.count).allSatisfy { $0 == 0 })
            #expect(try store.readLines(from: 0, limit: 100) == events.map(\.line))
            #expect(try store.readLines(from: 2, limit: 3) == events[2..<5].map(\.line))
            #expect(try store.read(from: 6, limit: 10).isEmpty)

            #expect(store.count == 6)
            #expect(store.versionVector == VersionVector(["gao": 6]))
            #expect(try store.event(id: "gao:4")?.line == events[3].line)
            #expect(try store.event(id: "gao:7") == nil)
            #expect(try store.event(id: "kidal:1") == nil)
            #expect(store.offset(origin: "gao", seq: 6) == 5)
            await store.close()
        }
    }

    @Test func aCommitReadsTheWallClockOnceForAllItsEvents() async throws {
        try await StoreHarness.with { h in
            // A clock that moves 1 s at every reading: events stamped from separate readings
            // would each show a different second.
            let wall = Shared<UInt64>(1_764_388_800_000)
            h.options.wallClock = {
                wall.update {
                    $0 += 1000
                    return $0
                }
            }
            let store = try h.open()
            _ = try await store.append([pending(1), pending(2), pending(3)])
            _ = try await store.append([pending(4)])
            let events = try store.read(from: 0, limit: 10)
            #expect(events.prefix(3).allSatisfy { $0.recordedAt == events[0].recordedAt })
            #expect(events.prefix(3).allSatisfy { $0.hlc.wallMillis == events[0].hlc.wallMillis })
            #expect(events.prefix(3).map(\.hlc.counter) == [0, 1, 2])
            #expect(events[3].recordedAt > events[0].recordedAt)
            #expect(zip(events, events.dropFirst()).allSatisfy { $0.hlc < $1.hlc })
            await store.close()
        }
    }

    @Test func reopeningKeepsTheLogAndNewAppendsContinueTheChain() async throws {
        try await StoreHarness.with { h in
            let store = try h.open()
            for n in 1...5 { _ = try await store.append([pending(n)]) }
            let before = try store.read(from: 0, limit: 10)
            await store.close()

            let reopened = try h.open()
            #expect(reopened.count == 5)
            #expect(reopened.versionVector == VersionVector(["gao": 5]))
            #expect(try reopened.read(from: 0, limit: 10).map(\.line) == before.map(\.line))

            let acks = try await reopened.append([pending(6), pending(7)])
            #expect(acks.map(\.id) == ["gao:6", "gao:7"])
            #expect(acks.map(\.offset) == [5, 6])
            let after = try reopened.read(from: 0, limit: 10)
            #expect(after.count == 7)
            #expect(chainBreak(after) == nil)
            #expect(reopened.versionVector == VersionVector(["gao": 7]))
            await reopened.close()
            // A clean shutdown leaves nothing for recovery to cut.
            #expect(h.segmentDirectoryListing() == ["00000000000000000000.jsonl"])
            #expect(h.logs.records(withMessage: "torn tail cut from the newest segment").isEmpty)
        }
    }

    @Test func stampsOfNewEventsFollowTheLogWhenTheWallClockWentBackAcrossARestart() async throws {
        let wall = Shared<UInt64>(2_000_000_000_000)
        var options = StoreOptions()
        options.wallClock = { wall.current }
        try await StoreHarness.with(options: options) { h in
            let store = try h.open()
            _ = try await store.append([pending(1), pending(2), pending(3)])
            let lastBefore = try #require(try store.read(from: 2, limit: 1).first?.hlc)
            await store.close()

            wall.current = 1_000_000_000_000
            let reopened = try h.open()
            _ = try await reopened.append([pending(4)])
            let event = try #require(try reopened.read(from: 3, limit: 1).first)
            #expect(event.hlc > lastBefore)
            #expect(event.hlc == HLCTimestamp(wallMillis: lastBefore.wallMillis, counter: lastBefore.counter + 1))
            // recorded_at is the wall clock as it was, not the logical clock.
            #expect(event.recordedAt == RFC3339.format(millis: 1_000_000_000_000))
            await reopened.close()
        }
    }
}

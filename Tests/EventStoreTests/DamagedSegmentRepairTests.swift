import EventStore
import Crypto
import Foundation
import IncidentModel
import Testing

/// A sealed segment that fails its checks does not stop the store: it opens, names the damage
/// and the events it hides, serves and takes everything else, and takes the hidden events back
/// into their places when they arrive, after which the segment verifies again.
@Suite struct DamagedSegmentRepairTests {
    static func options(segmentBytes: UInt64 = 600) -> StoreOptions {
        var options = StoreOptions()
        options.segmentBytes = segmentBytes
        options.fsync = .never
        return options
    }

    /// Every line the store serves, by reading the whole log as a reader does.
    static func served(_ store: EventStore) throws -> [Event] {
        var out: [Event] = []
        var next: UInt64 = 0
        while next < store.count {
            let run = try store.readLineRun(from: next, limit: 3)
            out += try run.lines.map { try Event.parse(line: $0) }
            next = run.next
        }
        return out
    }

    /// The damaged copies a repair leaves beside the segments (kept for inspection).
    static func removeDamagedCopies(_ h: StoreHarness) {
        for name in h.segmentDirectoryListing() where name.contains(".damaged") {
            try? FileManager.default.removeItem(atPath: h.segmentsDirectory + "/" + name)
        }
    }

    /// Eight events of gao, closed: the second segment (sealed), its bytes and its lines.
    static func sealedLog(_ h: StoreHarness) async throws -> (sealed: String, original: [UInt8], records: [(start: Int, line: [UInt8])]) {
        let store = try h.open()
        for n in 1...8 { _ = try await store.append([pending(n)]) }
        await store.close()
        let names = h.segmentNames()
        try #require(names.count >= 3)
        let original = h.bytes(ofSegment: names[1])
        let records = lines(of: original)
        try #require(records.count >= 2)
        return (names[1], original, records)
    }

    /// The segment with one bit of `record` flipped at `byte`, written in place.
    static func flip(_ h: StoreHarness, _ log: (sealed: String, original: [UInt8], records: [(start: Int, line: [UInt8])]), record: Int, byte: Int, mask: UInt8) -> [UInt8] {
        var damaged = log.original
        damaged[log.records[record].start + byte] ^= mask
        h.write(damaged, toSegment: log.sealed)
        return damaged
    }

    @Test func aBitFlippedAnywhereInASealedRecordIsNamedServedAroundAndRepaired() async throws {
        try await StoreHarness.with(options: Self.options()) { h in
            let log = try await Self.sealedLog(h)
            let (sealed, original) = (log.sealed, log.original)
            let target = log.records[1]
            let event = try Event.parse(line: target.line)
            // The signature is not covered by the hash, and recovery does not verify signatures.
            let sigStart = position(of: #","sig":""#, in: target.line).map { $0 + 8 }
            let masks: [UInt8] = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80]
            for i in 0...target.line.count where sigStart == nil || i < sigStart! || i >= target.line.count - 2 {
                let where_ = "bit flipped at byte \(i) of the record"
                _ = Self.flip(h, log, record: 1, byte: i, mask: masks[i % masks.count])
                let store = try h.open()
                let report = store.damage
                #expect(report.segments.map(\.name) == [sealed], "\(where_)")
                #expect(report.segments.first?.missing == [event.id], "\(where_): \(report)")
                #expect(report.segments.first?.byteRanges.first?.lowerBound == UInt64(target.start), "\(where_): \(report)")
                #expect(store.versionVector[StoreHarness.nodeID] == event.seq - 1, "\(where_)")
                #expect(try store.event(id: event.id) == nil, "\(where_)")
                let served = try Self.served(store)
                #expect(served.count == 7 && !served.contains { $0.id == event.id }, "\(where_)")
                #expect(
                    h.logs.records(withMessage: "sealed segment damaged; serving the log without its damaged events until they are repaired").last?
                        .metadata["event.ids"]?.description == event.id, "\(where_)")

                // The event comes back (from a peer or a bundle) and takes its place.
                #expect(try await store.ingest([event]) == [.stored(offset: store.offset(origin: "gao", seq: event.seq - 1)! + 1)], "\(where_)")
                #expect(store.damage.segments.first?.repairedWhole == true, "\(where_)")
                #expect(store.versionVector[StoreHarness.nodeID] == 8, "\(where_)")
                #expect(try store.event(id: event.id)?.line == event.line, "\(where_)")
                await store.close()
                #expect(h.bytes(ofSegment: sealed) == original, "\(where_)")
                let reopened = try h.open()
                #expect(reopened.damage.isEmpty, "\(where_)")
                await reopened.close()
                Self.removeDamagedCopies(h)
            }
        }
    }

    @Test func damagedStoreTakesAppendsAndKeepsTheDamagedBytes() async throws {
        try await StoreHarness.with(options: Self.options()) { h in
            let log = try await Self.sealedLog(h)
            let (sealed, original) = (log.sealed, log.original)
            let event = try Event.parse(line: log.records[0].line)
            let damaged = Self.flip(h, log, record: 0, byte: 40, mask: 0x04)

            let open = try h.open()
            // The next seq is the one after the newest, not after the gap.
            let appended = try await open.append([pending(9)])
            #expect(appended.map(\.id) == ["gao:9"])
            #expect(try open.event(id: "gao:9") != nil)
            _ = try await open.ingest([event])
            await open.close()
            #expect(h.bytes(ofSegment: sealed) == original)
            #expect(h.segmentDirectoryListing().contains("\(sealed).damaged"))
            #expect(FileManager.default.contents(atPath: h.segmentsDirectory + "/\(sealed).damaged").map(Array.init) == damaged)
            let reopened = try h.open()
            #expect(reopened.damage.isEmpty)
            #expect(chainBreak(try reopened.read(from: 0, limit: 100)) == nil)
            await reopened.close()
        }
    }

    /// A newline flipped between two lines merges them: the damaged range is both, and both
    /// events come back into it.
    @Test func aLostNewlineMakesOneRangeOfTwoEvents() async throws {
        try await StoreHarness.with(options: Self.options(segmentBytes: 1200)) { h in
            let store = try h.open()
            for n in 1...12 { _ = try await store.append([pending(n)]) }
            await store.close()
            let names = h.segmentNames()
            let sealed = names[1]
            let original = h.bytes(ofSegment: sealed)
            let records = lines(of: original)
            try #require(records.count >= 3)
            let first = try Event.parse(line: records[0].line)
            let second = try Event.parse(line: records[1].line)
            var damaged = original
            damaged[records[0].start + records[0].line.count] ^= 0x20  // "\n" becomes "*"
            h.write(damaged, toSegment: sealed)

            let open = try h.open()
            #expect(open.damage.segments.first?.missing == [first.id, second.id])
            #expect(open.damage.segments.first?.events == 2)
            // One of them alone cannot be written back: the range's bytes are not per event.
            _ = try await open.ingest([second])
            #expect(open.damage.segments.first?.waiting == 1)
            #expect(try open.event(id: second.id) == nil)
            _ = try await open.ingest([first])
            #expect(open.damage.segments.first?.repairedWhole == true)
            await open.close()
            #expect(h.bytes(ofSegment: sealed) == original)
        }
    }

    /// An event that does not fit the chain around the slot is refused, and the slot stays.
    @Test func anEventThatDoesNotFitTheChainIsRefused() async throws {
        try await StoreHarness.with(options: Self.options()) { h in
            let log = try await Self.sealedLog(h)
            let event = try Event.parse(line: log.records[0].line)
            let damaged = Self.flip(h, log, record: 0, byte: 60, mask: 0x01)
            let open = try h.open()
            // Same id, same prev, another payload: its hash is not the one the next event names.
            let other = Event.encode(
                Event.Draft(
                    origin: event.origin, seq: event.seq, prev: event.prev, hlc: event.hlc, recordedAtMillis: 0, type: event.type,
                    sector: event.sector, data: Array(#"{"incident_id":"x","reason":"forged"}"#.utf8)), signer: h.identity.privateKey)
            let outcome = try await open.ingest([other])
            guard case .refused(.fork, _) = outcome.first else {
                Issue.record("\(outcome)")
                return
            }
            #expect(open.damage.segments.first?.missing == [event.id])
            await open.close()
            #expect(h.bytes(ofSegment: log.sealed) == damaged)
        }
    }

    /// The newest event of the node's own origin, damaged with no later event of its origin to
    /// name it: the damaged line names it, and the next append does not take its seq.
    @Test func ownNewestEventDamagedIsNamedByItsLineAndItsSeqIsNotReused() async throws {
        try await StoreHarness.with(options: Self.options()) { h in
            let store = try h.open()
            for n in 1...3 { _ = try await store.append([pending(n)]) }
            // Another origin's events seal the segments after gao:3.
            let kidal = NodeIdentity(privateKey: .init())
            var prev: EventHash? = nil
            var others: [Event] = []
            for seq in 1...8 as ClosedRange<UInt64> {
                let e = Event.encode(
                    Event.Draft(
                        origin: "kidal", seq: seq, prev: prev, hlc: HLCTimestamp(wallMillis: 1, counter: UInt32(seq)), recordedAtMillis: 0,
                        type: "incident.closed", sector: "east", data: Array(#"{"incident_id":"k","reason":"r \#(seq)"}"#.utf8)),
                    signer: kidal.privateKey)
                prev = e.hash
                others.append(e)
                _ = try await store.ingest([e])
            }
            let gao3 = try #require(try store.event(id: "gao:3"))
            let offset = try #require(store.offset(origin: "gao", seq: 3))
            await store.close()
            let names = h.segmentNames()
            let holder = try #require(names.last { SegmentName.firstOffset(fileName: $0)! <= offset })
            try #require(holder != names.last)
            let original = h.bytes(ofSegment: holder)
            let target = try #require(lines(of: original).first { $0.line == gao3.line })
            var damaged = original
            damaged[target.start + 120] ^= 0x02  // in the payload: origin, seq and hash still read
            h.write(damaged, toSegment: holder)

            let open = try h.open()
            #expect(open.damage.segments.first?.missing == ["gao:3"])
            #expect(open.versionVector["gao"] == 2)
            #expect(try await open.append([pending(4)]).map(\.id) == ["gao:4"])
            _ = try await open.ingest([gao3])
            #expect(open.versionVector["gao"] == 4)
            await open.close()
            let reopened = try h.open()
            #expect(reopened.damage.isEmpty)
            let gao = try reopened.read(from: 0, limit: 100).filter { $0.origin == "gao" }
            #expect(chainBreak(gao) == nil)
            await reopened.close()
        }
    }
}

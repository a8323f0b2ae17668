import EventStore
import Foundation
import IncidentModel
import Testing

/// Recovery reads a segment in parts and checks its lines in runs of a few thousand, on every core,
/// then the chains in log order. On logs large enough to take many parts and runs: the index it
/// rebuilds is the one the writer built, and the failure it reports is the first in log order,
/// whichever run finds it and whatever fails after it.
@Suite struct ParallelRecoveryTests {
    /// More than two runs of line checks (4096 lines each) and more than one read part (4 MiB).
    static let localEvents = 12_000

    static func options() -> StoreOptions {
        var options = StoreOptions()
        options.fsync = .never
        options.diskReserveBytes = 0
        return options
    }

    /// A long note makes lines of ~400 bytes, so the segment spans several read parts.
    static func event(_ n: Int) -> PendingEvent {
        pending(n, note: String(repeating: "x", count: 220))
    }

    /// Local appends interleaved with two other offices' chains, in batches.
    static func writeLog(_ h: StoreHarness) async throws {
        let store = try h.open()
        var heads: [String: (seq: UInt64, hash: EventHash?)] = ["kidal": (0, nil), "timbuktu": (0, nil)]
        var n = 0
        while n < localEvents {
            _ = try await store.append((n..<(n + 500)).map(event))
            n += 500
            for origin in ["kidal", "timbuktu"] {
                let head = heads[origin]!
                let events = replicatedChain(origin, from: head.seq + 1, count: 150, after: head.hash)
                let outcomes = try await store.ingest(events)
                #expect(outcomes.allSatisfy { if case .stored = $0 { return true } else { return false } })
                heads[origin] = (head.seq + 150, events.last!.hash)
            }
        }
        await store.close()
    }

    @Test func reopenedStoreHasTheIndexChainsAndClockOfTheStoreThatWroteIt() async throws {
        let wall = Shared<UInt64>(1_000)
        var options = Self.options()
        // The wall clock far behind every stamp in the log: new stamps must follow the log's highest.
        options.wallClock = { wall.current }
        try await StoreHarness.with(options: options) { h in
            try await Self.writeLog(h)
            // What the writer's indexes said, read through the store the writer built.
            var expected: [String: [UInt64]] = [:]
            let written = try h.open()
            let vector = written.versionVector
            let count = written.count
            let lines = try written.readLines(from: 0, limit: Int(count))
            for (origin, held) in vector.entries {
                expected[origin] = (1...held).map { written.offset(origin: origin, seq: $0)! }
            }
            await written.close()
            #expect(count == UInt64(Self.localEvents + 2 * 24 * 150))

            let store = try h.open()
            #expect(store.count == count)
            #expect(store.versionVector == vector)
            #expect(try store.readLines(from: 0, limit: Int(count)) == lines)
            for (origin, offsets) in expected {
                #expect((1...UInt64(offsets.count)).map { store.offset(origin: origin, seq: $0) } == offsets, "\(origin)")
            }
            // The chain heads and the clock seed: the next event extends gao's chain after the log's highest stamp.
            let maxStamp = try lines.map { try Event.parse(line: $0).hlc }.max()!
            let ack = try await store.append([Self.event(999_999)])
            #expect(ack.map(\.id) == ["gao:\(Self.localEvents + 1)"])
            let next = try store.read(from: count, limit: 1)[0]
            let last = try store.read(from: try #require(store.offset(origin: "gao", seq: UInt64(Self.localEvents))), limit: 1)[0]
            #expect(next.prev == last.hash)
            #expect(next.hlc > maxStamp)
            await store.close()
        }
    }

    enum Damage {
        /// A bit of the line's data flipped (its hash no longer matches).
        case hash(line: Int)
        /// The line swapped with the next one of gao (each keeps a valid hash; the chain breaks).
        case order(line: Int)
    }

    /// The local event lines of gao only, so swapping neighbours breaks the chain at the first.
    static func damagedOpenError(_ damages: [Damage]) async throws -> (error: StoreError?, starts: [Int]) {
        try await StoreHarness.with(options: Self.options()) { h in
            let store = try h.open()
            var n = 0
            while n < localEvents {
                _ = try await store.append((n..<(n + 1000)).map(event))
                n += 1000
            }
            await store.close()
            let name = try #require(h.segmentNames().first)
            #expect(h.segmentNames().count == 1)
            var bytes = h.bytes(ofSegment: name)
            let records = lines(of: bytes)
            for damage in damages {
                switch damage {
                case .hash(let line):
                    let inData = try #require(position(of: "\"reason\":\"test", in: records[line].line))
                    bytes[records[line].start + inData + 12] ^= 0x01
                case .order(let line):
                    let a = records[line]
                    let b = records[line + 1]
                    let swapped = b.line + [UInt8(ascii: "\n")] + a.line + [UInt8(ascii: "\n")]
                    bytes.replaceSubrange(a.start..<(b.start + b.line.count + 1), with: swapped)
                }
            }
            h.write(bytes, toSegment: name)
            return (h.openError(), records.map(\.start))
        }
    }

    @Test func firstRefusedLineInLogOrderIsReportedWhicheverRunFindsIt() async throws {
        // Two damaged lines in different runs: the earlier one is named.
        var (error, starts) = try await Self.damagedOpenError([.hash(line: 10_500), .hash(line: 5_000)])
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("corrupt record at byte offset \(starts[5_000]): hash does not match") == true, "\(error?.message ?? "")")

        // A broken chain before a damaged line: the chain is named.
        (error, starts) = try await Self.damagedOpenError([.order(line: 8_191), .hash(line: 9_000)])
        #expect(error?.message.contains("corrupt record at byte offset \(starts[8_191]): gao:8193 out of order: expected seq 8192") == true, "\(error?.message ?? "")")

        // A damaged line before a broken chain: the damaged line is named.
        (error, starts) = try await Self.damagedOpenError([.hash(line: 3_000), .order(line: 9_000)])
        #expect(error?.message.contains("corrupt record at byte offset \(starts[3_000]): hash does not match") == true, "\(error?.message ?? "")")

        // The first line of a run, out of order.
        (error, starts) = try await Self.damagedOpenError([.order(line: 4_096)])
        #expect(error?.message.contains("corrupt record at byte offset \(starts[4_096]): gao:4098 out of order") == true, "\(error?.message ?? "")")
    }

    @Test func tornTailAfterManyRunsIsCut() async throws {
        try await StoreHarness.with(options: Self.options()) { h in
            try await Self.writeLog(h)
            let name = try #require(h.segmentNames().first)
            let intact = h.bytes(ofSegment: name)
            h.write(intact + Array(#"{"origin":"gao","seq":12"#.utf8), toSegment: name)
            let store = try h.open()
            #expect(store.count == UInt64(Self.localEvents + 2 * 24 * 150))
            #expect(h.bytes(ofSegment: name) == intact)
            #expect(h.logs.records(withMessage: "torn tail cut from the newest segment").count == 1)
            await store.close()
        }
    }

    @Test func originWrittenWithEscapesContinuesItsChain() async throws {
        // `"k\u0069dal"` is the origin kidal in another spelling: the line parses (as it always
        // did) and belongs to kidal's chain.
        let events = replicatedChain("kidal", from: 1, count: 3, after: nil)
        let plain = Array(#"{"origin":"kidal""#.utf8)
        var second = Array(events[1].line[..<events[1].hashedPrefixEnd])
        #expect(second.starts(with: plain))
        second.replaceSubrange(0..<plain.count, with: Array(#"{"origin":"k\u0069dal""#.utf8))
        let hash = second.withUnsafeBufferPointer { Event.computeHash(prefix: $0) }
        second += Array(#","hash":"\#(hash.hex)"}"#.utf8)
        let third = Event.encode(
            Event.Draft(
                origin: "kidal", seq: 3, prev: hash, hlc: events[2].hlc, recordedAtMillis: 1_796_000_000_000,
                type: "incident.closed", sector: "north", data: Array(events[2].dataBytes)),
            signer: nil)
        try await StoreHarness.with(options: Self.options()) { h in
            try FileManager.default.createDirectory(atPath: h.segmentsDirectory, withIntermediateDirectories: true)
            let lines = [events[0].line, second, third.line].map { $0 + [UInt8(ascii: "\n")] }
            h.write(Array(lines.joined()), toSegment: "00000000000000000000.jsonl")
            let store = try h.open()
            #expect(store.versionVector == VersionVector(["kidal": 3]))
            #expect(store.offset(origin: "kidal", seq: 3) == 2)
            await store.close()
        }
    }
}

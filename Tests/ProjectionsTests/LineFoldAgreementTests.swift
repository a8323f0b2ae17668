import IncidentModel
import Projections
import Synchronization
import Testing

/// The rebuild folds stored lines read in place (`PreparedEvents.prepare` over blocks of lines,
/// on two threads through `RebuildPipeline`); live folding takes parsed `Event`s. Both must give
/// the same state: the same views, the same version vector, the same snapshot size, whatever the
/// block boundaries — with several origins interleaved, replayed events, types this version does
/// not know, and envelope strings written with escapes.
@Suite struct LineFoldAgreementTests {
    /// The log's lines as a store hands them out: blocks of `size` lines.
    static func blocks(_ lines: [[UInt8]], size: Int) -> [EventLineBlock] {
        stride(from: 0, to: lines.count, by: size).map { first in
            var bytes: [UInt8] = []
            var starts: [Int] = []
            for line in lines[first..<min(lines.count, first + size)] {
                starts.append(bytes.count)
                bytes += line + [UInt8(ascii: "\n")]
            }
            return EventLineBlock(bytes: bytes, starts: starts, firstOffset: UInt64(first))
        }
    }

    static func replacing(_ a: String, with b: String, in line: [UInt8]) -> [UInt8] {
        let x = Array(a.utf8)
        guard let i = (0...(line.count - x.count)).first(where: { line[$0..<($0 + x.count)].elementsEqual(x) }) else {
            return line
        }
        return Array(line[..<i]) + Array(b.utf8) + Array(line[(i + x.count)...])
    }

    /// A random history plus what a log can also hold: events of a future type, replays of held
    /// events, and lines whose envelope strings use escapes (the same values).
    static func log(seed: UInt64) throws -> (lines: [[UInt8]], plain: [[UInt8]], log: EventLog) {
        var history = RandomHistory(seed: seed)
        for _ in 0..<400 { history.step() }
        var log = history.log
        log.add("gao", "future.type", sector: "east", at: "2026-12-01T10:00:00.000Z", #"{"incident_id":"x"}"#)
        log.add("zinder", "incident.reported", sector: "frontier", at: "2026-12-01T11:00:00.000Z",
            #"{"incident_id":"z-1","category":"ied","occurred_at":"2026-12-01T10:30:00Z","summary":"s"}"#)
        var rng = SplitMix64(seed: seed ^ 0x11)
        var plain = log.events.map(\.line)
        // Replays: a copy of an earlier event after the original, as a retried sync batch leaves it.
        for _ in 0..<20 {
            let j = Int(rng.next() % UInt64(plain.count))
            plain.insert(plain[j], at: j + 1 + Int(rng.next() % UInt64(plain.count - j)))
        }
        let lines = plain.enumerated().map { k, line -> [UInt8] in
            guard k % 5 == 2 else { return line }
            var l = replacing(#""sector":"e"#, with: #""sector":"\u0065"#, in: line)
            l = replacing(#","type":"incident."#, with: #","type":"incident\u002e"#, in: l)
            l = replacing(#"{"origin":"k"#, with: #"{"origin":"\u006b"#, in: l)
            return replacing(#""recorded_at":"2"#, with: #""recorded_at":"\u0032"#, in: l)
        }
        #expect(lines != plain)
        return (lines, plain, log)
    }

    static func views(_ s: ProjectionState, _ log: EventLog, seed: UInt64) -> [(name: String, bytes: [UInt8])] {
        AllViews.collect(s, incidentIDs: RandomHistory(seed: seed).incidentIDs + ["z-1"], lookup: log.lookup)
    }

    @Test(arguments: 0..<6)
    func foldOfStoredLinesEqualsFoldOfEvents(round: Int) throws {
        let seed = UInt64(0x11FE_0000 + round)
        let (lines, plain, log) = try Self.log(seed: seed)
        let events = try lines.map { try Event.parse(line: $0) }

        var reference = ProjectionState()
        reference.apply(contentsOf: events)
        let expected = Self.views(reference, log, seed: seed)
        let expectedSize = ProjectionSnapshot.encode(reference, logOffset: 0).count
        #expect(reference.eventCount == UInt64(log.events.count))

        func check(_ state: ProjectionState, _ how: String) {
            #expect(state.eventCount == reference.eventCount, "\(how)")
            #expect(state.versionVector == reference.versionVector, "\(how)")
            #expect(ProjectionSnapshot.encode(state, logOffset: 0).count == expectedSize, "\(how)")
            if let d = ConvergenceTests.firstDifference(expected, Self.views(state, log, seed: seed)) {
                Issue.record("seed \(seed), \(how): \(d)")
            }
        }

        var oneByOne = ProjectionState()
        for e in events { oneByOne.apply(e) }
        check(oneByOne, "events one by one")

        // The same values without escapes fold the same.
        var unescaped = ProjectionState()
        unescaped.apply(contentsOf: try plain.map { try Event.parse(line: $0) })
        check(unescaped, "lines without escapes")

        for size in [1, 7, 64, lines.count] {
            var state = ProjectionState()
            for block in Self.blocks(lines, size: size) { state.apply(try PreparedEvents.prepare(block)) }
            check(state, "blocks of \(size)")
        }

        var piped = ProjectionState()
        let queue = Self.blocks(lines, size: 13)
        let next = TakeCounter(0)
        try RebuildPipeline.run(
            next: {
                let i = next.take()
                return i < queue.count ? queue[i] : nil
            },
            apply: { batch in
                piped.apply(batch)
                return true
            })
        check(piped, "pipeline")

        // A snapshot of a line fold, loaded and folded on with events, lands where events alone do.
        var half = ProjectionState()
        let cut = lines.count / 2
        for block in Self.blocks(Array(lines[..<cut]), size: 50) { half.apply(try PreparedEvents.prepare(block)) }
        var resumed = try ProjectionSnapshot.decode(ProjectionSnapshot.encode(half, logOffset: UInt64(cut))).state
        resumed.apply(contentsOf: events[cut...])
        check(resumed, "snapshot of a line fold, then events")
    }

    @Test func pipelineStopsWhenAskedAndReportsReadErrors() throws {
        let (lines, _, _) = try Self.log(seed: 3)
        let queue = Self.blocks(lines, size: 10)
        let next = TakeCounter(0)
        var applied = 0
        try RebuildPipeline.run(
            next: {
                let i = next.take()
                return i < queue.count ? queue[i] : nil
            },
            apply: { batch in
                applied += batch.count
                return applied < 30
            })
        #expect(applied == 30)

        struct ReadFailed: Error {}
        let calls = TakeCounter(0)
        var folded = 0
        #expect(throws: ReadFailed.self) {
            try RebuildPipeline.run(
                next: {
                    let i = calls.take()
                    if i == 3 { throw ReadFailed() }
                    return queue[i]
                },
                apply: { batch in
                    folded += batch.count
                    return true
                })
        }
        // Every block before the failure was folded.
        #expect(folded == 30)

        // A line that is not an event line stops the fold with the parse error.
        var broken = queue[0]
        broken.bytes[broken.starts[1] + 3] = UInt8(ascii: "x")
        #expect(throws: EventParseError.self) { try PreparedEvents.prepare(broken) }
    }
}

/// A counter shared with the pipeline's helper thread.
final class TakeCounter: Sendable {
    private let value: Mutex<Int>

    init(_ value: Int) { self.value = Mutex(value) }

    /// The current value, then one more.
    func take() -> Int {
        value.withLock { v in
            defer { v += 1 }
            return v
        }
    }
}

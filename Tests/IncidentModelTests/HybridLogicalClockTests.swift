import IncidentModel
import Testing

@Suite struct HybridLogicalClockTests {
    @Test func stampsStayMonotonicWhenTheWallClockGoesBackwards() {
        let wall = ManualWallClock(1_000)
        var clock = HybridLogicalClock(wallClock: wall.read)
        #expect(clock.now() == HLCTimestamp(wallMillis: 1_000, counter: 0))
        wall.set(400)
        #expect(clock.now() == HLCTimestamp(wallMillis: 1_000, counter: 1))
        wall.set(999)
        #expect(clock.now() == HLCTimestamp(wallMillis: 1_000, counter: 2))
        wall.set(1_001)
        #expect(clock.now() == HLCTimestamp(wallMillis: 1_001, counter: 0))
    }

    @Test func counterIncrementsWithinTheSameMillisecond() {
        let wall = ManualWallClock(1_764_388_800_000)
        var clock = HybridLogicalClock(wallClock: wall.read)
        let stamps = (0..<5).map { _ in clock.now() }
        #expect(stamps.map(\.counter) == [0, 1, 2, 3, 4])
        #expect(stamps.allSatisfy { $0.wallMillis == 1_764_388_800_000 })
        #expect(clock.last == stamps.last)
    }

    @Test func observingAHigherStampMovesTheClockOnAndALowerOneDoesNot() {
        let wall = ManualWallClock(100)
        var clock = HybridLogicalClock(wallClock: wall.read)
        _ = clock.now()
        clock.observe(HLCTimestamp(wallMillis: 5_000, counter: 3))
        #expect(clock.now() == HLCTimestamp(wallMillis: 5_000, counter: 4))
        clock.observe(HLCTimestamp(wallMillis: 10, counter: 0))
        #expect(clock.now() == HLCTimestamp(wallMillis: 5_000, counter: 5))
        wall.set(6_000)
        #expect(clock.now() == HLCTimestamp(wallMillis: 6_000, counter: 0))
    }

    @Test func clockSeededFromTheLogStartsAfterTheSeed() {
        // A restarted node seeds the clock with the highest stamp in its log.
        let wall = ManualWallClock(50)
        var clock = HybridLogicalClock(last: HLCTimestamp(wallMillis: 9_000, counter: 7), wallClock: wall.read)
        #expect(clock.now() == HLCTimestamp(wallMillis: 9_000, counter: 8))
    }

    @Test func counterOverflowMovesToTheNextMillisecond() {
        let wall = ManualWallClock(7)
        var clock = HybridLogicalClock(last: HLCTimestamp(wallMillis: 7, counter: .max), wallClock: wall.read)
        #expect(clock.now() == HLCTimestamp(wallMillis: 8, counter: 0))
        #expect(clock.now() == HLCTimestamp(wallMillis: 8, counter: 1))
    }

    @Test func stampsOrderByWallTimeThenCounter() {
        #expect(HLCTimestamp(wallMillis: 5, counter: 9) < HLCTimestamp(wallMillis: 6, counter: 0))
        #expect(HLCTimestamp(wallMillis: 6, counter: 0) < HLCTimestamp(wallMillis: 6, counter: 1))
        #expect(!(HLCTimestamp(wallMillis: 6, counter: 1) < HLCTimestamp(wallMillis: 6, counter: 1)))
    }

    @Test(
        arguments: [
            ("1764388800000-0", 1_764_388_800_000, 0),
            ("0-0", 0, 0),
            ("1-42", 1, 42),
            ("9223372036854775807-4294967295", 9_223_372_036_854_775_807, 4_294_967_295),
        ] as [(String, UInt64, UInt32)])
    func stampParsesAndFormatsAsMillisDashCounter(text: String, wallMillis: UInt64, counter: UInt32) throws {
        let stamp = try #require(HLCTimestamp(text))
        #expect(stamp == HLCTimestamp(wallMillis: wallMillis, counter: counter))
        #expect(stamp.description == text)
        #expect(HLCTimestamp(utf8: Array(text.utf8)) == stamp)
        // The three ways in: bytes in memory, a collection with contiguous storage, one without.
        #expect(Array(text.utf8).withUnsafeBufferPointer { HLCTimestamp(utf8: $0) } == stamp)
        #expect(HLCTimestamp(utf8: text.utf8.lazy.map { $0 }) == stamp)
    }

    @Test(arguments: [
        "", "-", "1-", "-1", "1", "01-0", "1-00", "1-01", "1-4294967296", "9223372036854775808-0",
        "99999999999999999999999-0", " 1-0", "1-0 ", "+1-0", "1-+0", "1-2-3", "a-b", "1.5-0", "1_0",
    ])
    func malformedStampIsRefused(text: String) {
        #expect(HLCTimestamp(text) == nil)
        #expect(Array(text.utf8).withUnsafeBufferPointer { HLCTimestamp(utf8: $0) } == nil)
        #expect(HLCTimestamp(utf8: text.utf8.lazy.map { $0 }) == nil)
    }
}

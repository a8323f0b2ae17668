import IncidentModel
@testable import Projections
import Testing

/// The medevac delays' percentiles come from selection, not a sort: they must be exactly the
/// values a sort gives, whatever the input's order, duplicates or size.
@Suite struct DelayPercentileTests {
    static func sortedAnswer(_ values: [Int64], _ positions: [Int]) -> [Int64] {
        let sorted = values.sorted()
        return positions.map { sorted[$0] }
    }

    @Test(arguments: [UInt64(1), 2, 3, 4])
    func selectionGivesWhatSortingGives(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        for round in 0..<200 {
            let n = round < 100 ? round + 1 : Int(rng.next() % 2000) + 1
            // Few distinct values (many equal), many, or a pattern: sorted, reversed, organ pipe.
            let spread = [3, 1_000, Int.max][Int(rng.next() % 3)]
            var values = (0..<n).map { _ in Int64(truncatingIfNeeded: rng.next() % UInt64(spread)) - (spread == Int.max ? 0 : 500) }
            switch rng.next() % 4 {
            case 0: values.sort()
            case 1: values.sort(by: >)
            case 2: values = values.sorted() + values.sorted(by: >)
            default: break
            }
            let positions = (0..<4).map { _ in Int(rng.next() % UInt64(values.count)) } + [0, values.count - 1]
            #expect(
                ProjectionState.orderStatistics(values, at: positions) == Self.sortedAnswer(values, positions),
                "n \(values.count), spread \(spread), positions \(positions)")
        }
    }

    @Test func theViewWritesNearestRankPercentiles() {
        // 1…10 minutes in a shuffled order: max 10, median rank 5, p90 rank 9.
        let minutes: [Int64] = [7, 2, 9, 4, 10, 1, 6, 3, 8, 5]
        var w = JSONWriter()
        ProjectionState.writeDelays(minutes.map { $0 * 60_000 }, to: &w)
        #expect(String(decoding: w.bytes, as: UTF8.self) == #"{"count":10,"max":10.0,"median":5.0,"p90":9.0}"#)
        var empty = JSONWriter()
        ProjectionState.writeDelays([], to: &empty)
        #expect(String(decoding: empty.bytes, as: UTF8.self) == #"{"count":0,"max":null,"median":null,"p90":null}"#)
    }
}

import IncidentModel
@testable import Projections
import Testing

/// The views published after each batch (PublishedViews.swift) are the state's own views, though
/// a publication re-renders only the sectors the batch touched.
@Suite struct PublishedViewsTests {
    /// Folds a random history in random batches, publishing after each; every sector view, the
    /// overview and the freshness ages of each publication equal the state's at that point.
    @Test(arguments: 0..<6)
    func publicationsEqualTheStateAfterEveryBatch(seed: UInt64) {
        let log = RandomHistory.make(seed: seed, events: 600)
        var rng = SplitMix64(seed: seed &+ 100)
        var state = ProjectionState()
        var views = state.publish(after: nil)
        var start = 0
        let now: Int64 = 1_797_000_000_000
        while start < log.events.count {
            let end = min(log.events.count, start + 1 + Int(rng.next() % 6))
            state.apply(contentsOf: log.events[start..<end])
            start = end
            views = state.publish(after: views)
            // Asked twice: the second answer is the one rendered by the first.
            for sector in state.listedSectors + state.listedSectors {
                #expect(views.sectorView(sector)?.text == state.sectorView(sector)?.text, "sector \(sector) after event \(end)")
            }
            #expect(views.sectorView("nowhere") == nil)
            #expect(views.overview().text == state.overview().text, "overview after event \(end)")
            // The ages kept for one millisecond are not those of another.
            for millis in [now, now, now + 1_500, now, now + 90_001] {
                #expect(views.freshnessAges(nowMillis: millis) == state.freshnessAges(nowMillis: millis))
            }
            #expect(views.eventCount == state.eventCount)
            // The running totals behind the views over all days are the sums of the day buckets.
            for (slot, total) in state.sectorTotals.enumerated() {
                var sum = Bucket()
                for (k, b) in state.buckets where Int(k.sector) == slot { sum.merge(b) }
                #expect(Self.same(total, sum), "sector slot \(slot) after event \(end)")
            }
        }
    }

    /// Equal counts; the delays as a multiset (their order is not kept).
    static func same(_ a: Bucket, _ b: Bucket) -> Bool {
        var a = a
        var b = b
        a.dispatchDelays.sort()
        b.dispatchDelays.sort()
        return a == b
    }

    /// A snapshot rebuilds the running totals: the views over all days are those of the state it was taken of.
    @Test func aLoadedSnapshotPublishesTheSameViews() throws {
        let log = RandomHistory.make(seed: 11, events: 500)
        var state = ProjectionState()
        state.apply(contentsOf: log.events)
        var copy = try ProjectionSnapshot.decode(ProjectionSnapshot.encode(state, logOffset: 500)).state
        let views = copy.publish(after: nil)
        for sector in state.listedSectors { #expect(views.sectorView(sector)?.text == state.sectorView(sector)?.text) }
        #expect(views.overview().text == state.overview().text)
    }

    /// A publication is immutable: folding on does not change what an earlier one answers.
    @Test func anEarlierPublicationKeepsItsAnswers() {
        let log = RandomHistory.make(seed: 3, events: 400)
        var state = ProjectionState()
        state.apply(contentsOf: log.events[..<200])
        let early = state.publish(after: nil)
        let sectorsThen = state.listedSectors.map { state.sectorView($0) }
        let overviewThen = state.overview()
        state.apply(contentsOf: log.events[200...])
        _ = state.publish(after: early)
        #expect(state.listedSectors.map { early.sectorView($0) } == sectorsThen)
        #expect(early.overview() == overviewThen)
        #expect(state.overview() != overviewThen)
    }

    /// A publication renders no view until a query asks: appends with nobody reading cost no
    /// rendering. The first query renders what it needs (a sector view its sector, the overview
    /// every sector), and a sector no batch touched keeps what was rendered for it.
    @Test func aPublicationNobodyAsksRendersNothing() {
        let log = RandomHistory.make(seed: 5, events: 300)
        var state = ProjectionState()
        state.apply(contentsOf: log.events[..<150])
        let first = state.publish(after: nil)
        #expect(first.sectors.allSatisfy { !$0.isRendered })
        let name = state.listedSectors[0]
        _ = first.sectorView(name)
        #expect(first.sectors.map { $0.isRendered } == state.listedSectors.map { $0 == name })
        _ = first.overview()
        #expect(first.sectors.allSatisfy { $0.isRendered })
        state.apply(contentsOf: log.events[150...])
        let second = state.publish(after: first)
        // The touched sectors' answers are new and not rendered; the others are shared.
        for (n, answer) in second.sectors.enumerated() {
            #expect(answer.isRendered == (answer === first.sectors[n]))
        }
        #expect(second.sectors.contains { !$0.isRendered })
    }
}

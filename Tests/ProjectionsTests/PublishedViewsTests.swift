import IncidentModel
import Projections
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
            for sector in state.listedSectors {
                #expect(views.sectorView(sector)?.text == state.sectorView(sector)?.text, "sector \(sector) after event \(end)")
            }
            #expect(views.sectorView("nowhere") == nil)
            #expect(views.overview().text == state.overview().text, "overview after event \(end)")
            #expect(views.freshnessAges(nowMillis: now) == state.freshnessAges(nowMillis: now))
            #expect(views.eventCount == state.eventCount)
        }
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
}

import IncidentModel
import Projections
import Testing

/// Same set of events ⇒ byte-identical views, whatever order the origins' streams interleave in.
@Suite struct ConvergenceTests {
    /// Interleaves the origins' streams at random, keeping each origin's seq order.
    static func interleave(_ perOrigin: [String: [Event]], _ rng: inout SplitMix64) -> [Event] {
        var queues = perOrigin.sorted { $0.key < $1.key }.map { ArraySlice($0.value) }
        var out: [Event] = []
        while !queues.isEmpty {
            let i = Int(rng.next() % UInt64(queues.count))
            // Sometimes a whole run of one origin (a sync catch-up), usually one event.
            let run = rng.chance(0.1) ? Int(rng.next() % 20) + 1 : 1
            for _ in 0..<run {
                guard let e = queues[i].popFirst() else { break }
                out.append(e)
            }
            if queues[i].isEmpty { queues.remove(at: i) }
        }
        return out
    }

    static func firstDifference(_ a: [(name: String, bytes: [UInt8])], _ b: [(name: String, bytes: [UInt8])]) -> String? {
        guard a.count == b.count else { return "view count \(a.count) vs \(b.count)" }
        for (x, y) in zip(a, b) where x.name != y.name || x.bytes != y.bytes {
            return "\(x.name):\n\(x.bytes.text)\nvs \(y.name):\n\(y.bytes.text)"
        }
        return nil
    }

    @Test(arguments: 0..<12)
    func shuffledArrivalGivesByteIdenticalViews(round: Int) throws {
        let seed = UInt64(0x5EED_0000 + round)
        print("ConvergenceTests seed \(seed)")
        let log = RandomHistory.make(seed: seed, events: 500)
        let ids = RandomHistory(seed: seed).incidentIDs + ["never-named"]
        let lookup = log.lookup
        let reference = AllViews.collect(log.folded(), incidentIDs: ids, lookup: lookup)

        // The views are canonical JSON: sorted keys, no whitespace.
        for view in reference where !view.bytes.isEmpty {
            let parsed = try JSONParser.parse(view.bytes)
            #expect(parsed.canonicalBytes == view.bytes, "seed \(seed): \(view.name) is not canonical")
        }
        // The random history does exercise what it should.
        let overview = try #require(reference.first { $0.name == "overview range 0" }?.bytes)
        #expect((int(overview, "mission", "incidents", "total") ?? 0) > 5, "seed \(seed)")
        #expect((int(overview, "mission", "incidents", "closed") ?? 0) > 0, "seed \(seed)")
        let disputedList = value(overview, "mission", "casualties", "disputed")?.arrayValue ?? []
        #expect(!disputedList.isEmpty, "seed \(seed)")

        var rng = SplitMix64(seed: seed ^ 0xABCD)
        for shuffle in 0..<8 {
            var order = Self.interleave(log.perOrigin, &rng)
            if shuffle % 3 == 1 {
                // Replays (a retried sync batch) must change nothing.
                // A copy always comes after the original, as a store would see it.
                for _ in 0..<30 {
                    let j = Int(rng.next() % UInt64(order.count))
                    order.insert(order[j], at: j + 1 + Int(rng.next() % UInt64(order.count - j)))
                }
            }
            var state = ProjectionState()
            state.apply(contentsOf: order)
            let views = AllViews.collect(state, incidentIDs: ids, lookup: lookup)
            let difference = Self.firstDifference(reference, views)
            #expect(difference == nil, "seed \(seed) shuffle \(shuffle): \(difference ?? "")")
            #expect(state.versionVector == log.folded().versionVector)
        }
    }

    /// A store serving a damaged segment hands over an origin's events with a gap, and the
    /// missing ones later, once repaired: they are folded then, and the views come out as if
    /// every event had come in order; until then the views are those of the events held.
    @Test(arguments: 0..<6)
    func eventsWithheldFromTheirChainAndFoldedLaterGiveTheSameViews(round: Int) throws {
        let seed = UInt64(0xDA3A_0000 + round)
        print("ConvergenceTests seed \(seed)")
        let log = RandomHistory.make(seed: seed, events: 500)
        let ids = RandomHistory(seed: seed).incidentIDs + ["never-named"]
        let lookup = log.lookup
        let reference = AllViews.collect(log.folded(), incidentIDs: ids, lookup: lookup)
        var rng = SplitMix64(seed: seed ^ 0x7717)
        let order = Self.interleave(log.perOrigin, &rng)
        // Runs of a few events withheld, here and there (a damaged line, a zeroed block).
        var withheld = Set<String>()
        while withheld.count < 40 {
            let start = Int(rng.next() % UInt64(order.count))
            for e in order[start..<min(order.count, start + 1 + Int(rng.next() % 4))] { withheld.insert(e.id) }
        }
        var state = ProjectionState()
        state.apply(contentsOf: order.filter { !withheld.contains($0.id) })
        var held = ProjectionState()
        held.apply(contentsOf: log.perOrigin.sorted { $0.key < $1.key }.flatMap { $0.value }.filter { !withheld.contains($0.id) })
        #expect(Self.firstDifference(AllViews.collect(held, incidentIDs: ids, lookup: lookup), AllViews.collect(state, incidentIDs: ids, lookup: lookup)) == nil)
        let gapsWhileWithheld = state.hasGaps
        #expect(gapsWhileWithheld)
        // The repaired events come back in batches, in any order.
        var back = order.filter { withheld.contains($0.id) }
        back.shuffle(using: &rng)
        for batch in stride(from: 0, to: back.count, by: 7) { state.apply(contentsOf: back[batch..<min(back.count, batch + 7)]) }
        // Replayed again: duplicates now.
        state.apply(contentsOf: back)
        let gapsLeft = state.hasGaps
        #expect(!gapsLeft)
        let difference = Self.firstDifference(reference, AllViews.collect(state, incidentIDs: ids, lookup: lookup))
        #expect(difference == nil, "seed \(seed): \(difference ?? "")")
        #expect(state.versionVector == log.folded().versionVector)
        #expect(state.eventCount == log.folded().eventCount)
    }

    @Test func reversedOriginOrderGivesTheSameViews() throws {
        let seed: UInt64 = 0xC0FFEE
        print("ConvergenceTests seed \(seed)")
        let log = RandomHistory.make(seed: seed, events: 400)
        let ids = RandomHistory(seed: seed).incidentIDs
        // Each origin whole, in one order and then the opposite one: the largest reorderings there are.
        var forward = ProjectionState()
        var backward = ProjectionState()
        let groups = log.perOrigin.sorted { $0.key < $1.key }
        for (_, events) in groups { forward.apply(contentsOf: events) }
        for (_, events) in groups.reversed() { backward.apply(contentsOf: events) }
        let difference = Self.firstDifference(
            AllViews.collect(forward, incidentIDs: ids, lookup: log.lookup),
            AllViews.collect(backward, incidentIDs: ids, lookup: log.lookup))
        #expect(difference == nil, "\(difference ?? "")")
    }
}

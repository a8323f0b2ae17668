import IncidentModel
import Testing

@testable import Projections

/// The incidents list answered from the fold's index (IncidentListIndex.swift) holds to the
/// linear scan over every record kept below as the reference: same bytes for every filter,
/// range, limit and page of a cursor walk, after random histories that move incidents.
@Suite struct IncidentListIndexTests {
    /// A history over `incidents` ids: reports (some repeated by other origins), updates that
    /// move occurred_at or change category and status, closes, retractions and verifications,
    /// in several sectors. occurred_at takes few values over four days, so ties (ordered by id)
    /// and day ranges both matter.
    static func history(seed: UInt64, incidents: Int, events: Int) -> EventLog {
        var rng = SplitMix64(seed: seed)
        var log = EventLog()
        let origins = ["bamako-hq", "gao", "kidal", "timbuktu"]
        let ids = (0..<incidents).map { n in
            n % 2 == 0
                ? "inc-\(n)"
                : "\(String(n, radix: 16).leftPadded(8))-0000-4000-8000-\(String(rng.next() % 1_000_000, radix: 16).leftPadded(12))"
        }
        func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
        func time() -> String { RFC3339.format(millis: 1_796_000_000_000 + Int64(rng.next() % 96) * 3_600_000) }
        var millis: Int64 = 1_796_400_000_000
        for _ in 0..<events {
            millis += 1000
            let id = pick(ids)
            let type: String
            let data: String
            switch rng.next() % 100 {
            case 0..<40:
                type = "incident.reported"
                data = """
                    {"incident_id":"\(id)","category":"\(pick(Vocabulary.incidentCategories))","summary":"s",\
                    "occurred_at":"\(time())","location":{"name":"L"}}
                    """
            case 40..<65:
                type = "incident.updated"
                var changes = ["\"occurred_at\":\"\(time())\""]
                if rng.next() % 3 == 0 { changes.append("\"category\":\"\(pick(Vocabulary.incidentCategories))\"") }
                if rng.next() % 3 == 0 { changes.append("\"status\":\"\(pick(Vocabulary.incidentStatuses))\"") }
                data = "{\"incident_id\":\"\(id)\",\"changes\":{\(changes.joined(separator: ","))}}"
            case 65..<78:
                type = "incident.verified"
                data = "{\"incident_id\":\"\(id)\",\"status\":\"\(pick(Vocabulary.verificationStatuses))\"}"
            case 78..<90:
                type = "incident.closed"
                data = "{\"incident_id\":\"\(id)\",\"reason\":\"done\"}"
            default:
                type = "incident.retracted"
                data = "{\"incident_id\":\"\(id)\",\"reason\":\"\(pick(Vocabulary.retractionReasons))\"}"
            }
            log.add(pick(origins), type, sector: pick(Sectors.defaultList), millis: millis, data)
        }
        return log
    }

    /// A random query; its limit keeps a walk over `incidents` to a few dozen pages.
    static func randomQuery(_ rng: inout SplitMix64, incidents: Int) -> IncidentQuery {
        func maybe(_ a: [String]) -> String? { rng.next() % 3 == 0 ? a[Int(rng.next() % UInt64(a.count))] : nil }
        var q = IncidentQuery(
            sector: maybe(Sectors.defaultList + ["nowhere"]), category: maybe(Vocabulary.incidentCategories),
            status: maybe(IncidentQuery.statuses), verification: maybe(Vocabulary.verificationStatuses))
        let first = RFC3339.dayNumber(millis: 1_796_000_000_000)
        if rng.next() % 3 == 0 {
            let a = first - 1 + Int(rng.next() % 6)
            let b = a + Int(rng.next() % 3)
            q.range = DayRange(sinceDay: rng.next() % 4 == 0 ? nil : a, untilDay: rng.next() % 4 == 0 ? nil : b)
        }
        let limits = [1, 2, 7, 50, 100, 600].filter { $0 * 40 >= incidents }
        q.limit = limits[Int(rng.next() % UInt64(limits.count))]
        return q
    }

    /// Walks every page of `q` and checks each against the reference.
    static func checkWalk(_ q: IncidentQuery, _ state: ProjectionState, _ lookup: EventLookup) throws {
        var q = q
        var pages = 0
        while true {
            let page = try state.incidents(q, lookup: lookup)
            let expected = try state.referenceIncidents(q, lookup: lookup)
            #expect(page.text == expected.text, "\(q)")
            guard page == expected, let cursor = value(page, "next_cursor")?.stringValue else { return }
            q.cursor = cursor
            pages += 1
            #expect(pages < 10_000)
        }
    }

    @Test(arguments: [(1 as UInt64, 30, 400), (2, 200, 3000), (3, 2500, 9000)])
    func pagesEqualTheLinearScan(seed: UInt64, incidents: Int, events: Int) throws {
        let log = Self.history(seed: seed, incidents: incidents, events: events)
        let state = log.folded()
        let lookup = log.lookup
        #expect(state.quarantinedCount == 0)
        var rng = SplitMix64(seed: seed &* 7919)
        try Self.checkWalk(IncidentQuery(limit: 50), state, lookup)
        for _ in 0..<25 { try Self.checkWalk(Self.randomQuery(&rng, incidents: incidents), state, lookup) }
        // A cursor of an incident that has moved since, or of none at all, still pages as the scan does.
        for _ in 0..<20 {
            var q = Self.randomQuery(&rng, incidents: incidents)
            q.cursor =
                IncidentCursor(
                    occurredAt: 1_796_000_000_000 + Int64(rng.next() % 100) * 3_600_000,
                    key: EntityKey("inc-\(rng.next() % UInt64(incidents))")
                ).text
            try Self.checkWalk(q, state, lookup)
        }
    }

    /// The index the fold keeps step by step is the one built from the records at the end (and
    /// after a snapshot load): every reported incident once, in list order, cells counted.
    @Test func theFoldKeepsTheIndexAsARebuildWouldMakeIt() throws {
        let log = Self.history(seed: 4, incidents: 1500, events: 8000)
        let state = log.folded()
        var rebuilt = state
        rebuilt.rebuildIncidentList()
        let kept = state.incidentList.blocks.flatMap { $0 }
        #expect(kept == rebuilt.incidentList.blocks.flatMap { $0 })
        #expect(state.incidentList.cells == rebuilt.incidentList.cells)
        #expect(kept.count == state.incidents.filter(\.isReported).count)
        #expect(state.incidentList.blocks.count > 2)
        #expect(state.incidentList.blocks.allSatisfy { !$0.isEmpty && $0.count <= IncidentListIndex.blockLimit })

        let loaded = try ProjectionSnapshot.decode(ProjectionSnapshot.encode(state, logOffset: 1)).state
        #expect(loaded.incidentList.blocks.flatMap { $0 } == kept)
        #expect(loaded.incidentList.cells == state.incidentList.cells)
        try Self.checkWalk(IncidentQuery(status: "open", limit: 100), loaded, log.lookup)
    }
}

extension ProjectionState {
    /// The list as a scan over every record: the first limit+1 by (occurred_at desc, id), and
    /// `total` counted on the way.
    func referenceIncidents(_ q: IncidentQuery, lookup: EventLookup) throws(ProjectionQueryError) -> [UInt8] {
        let category = try Self.filterCode(q.category, Vocabulary.incidentCategories, "category")
        let status = try Self.filterCode(q.status, IncidentQuery.statuses, "status")
        let verification = try Self.filterCode(q.verification, Vocabulary.verificationStatuses, "verification")
        let cursor = try q.cursor.map { c throws(ProjectionQueryError) in try IncidentCursor(c) }
        let sector: UInt16?? = q.sector.map { s in sectorNames.firstIndex(of: s).map { UInt16($0) } }
        if case .some(.none) = sector { return Self.emptyList }
        func before(_ a: Int, _ b: Int) -> Bool {
            let x = incidents[a]
            let y = incidents[b]
            if x.occurredAt != y.occurredAt { return x.occurredAt > y.occurredAt }
            return EntityKey.precedes(x.key, y.key)
        }
        var matching: [Int] = []
        var total = 0
        for i in incidents.indices {
            let r = incidents[i]
            guard r.isReported, q.range.contains(r.day) else { continue }
            if case .some(.some(let s)) = sector, r.sector != s { continue }
            if let category, r.category != category { continue }
            if let verification, r.verification != verification { continue }
            if let status {
                let listed = r.retracted ? 2 : (r.status == FoldCodes.statusOpen ? 0 : 1)
                if listed != Int(status) { continue }
            }
            total += 1
            if let cursor {
                if r.occurredAt > cursor.occurredAt { continue }
                if r.occurredAt == cursor.occurredAt, !EntityKey.precedes(cursor.key, r.key) { continue }
            }
            matching.append(i)
        }
        matching.sort(by: before)
        var page = Array(matching.prefix(q.limit + 1))
        let more = page.count > q.limit
        if more { page.removeLast() }
        var w = JSONWriter(reservingCapacity: 256)
        w.raw("{\"incidents\":[")
        for i in page {
            w.element()
            var row = IncidentPage(reservingCapacity: 256)
            planRow(i, into: &row)
            w.raw(row.render(lookup: lookup))
        }
        w.raw("],\"next_cursor\":")
        if more, let last = page.last {
            w.string(IncidentCursor(occurredAt: incidents[last].occurredAt, key: incidents[last].key).text)
        } else {
            w.raw("null")
        }
        w.raw(",\"total\":")
        w.integer(total)
        w.raw(UInt8(ascii: "}"))
        return w.bytes
    }
}

import IncidentModel
import Projections
import Testing

/// The incidents list: filters, a deterministic order, pages that cover everything exactly once.
@Suite struct IncidentListTests {
    @Test func pagesFollowingTheCursorListEveryIncidentOnceNewestFirst() throws {
        let log = RandomHistory.make(seed: 5, events: 800)
        let state = log.folded()
        let everything = try state.incidents(IncidentQuery(limit: 1000), lookup: log.lookup)
        let all = try #require(value(everything, "incidents")?.arrayValue)
        #expect(all.count == Int(int(everything, "total") ?? -1))
        #expect(value(everything, "next_cursor") == .null)
        #expect(all.count > 10)

        var paged: [JSONValue] = []
        var query = IncidentQuery(limit: 4)
        while true {
            let page = try state.incidents(query, lookup: log.lookup)
            #expect(int(page, "total") == Int64(all.count))
            paged += value(page, "incidents")?.arrayValue ?? []
            guard let cursor = value(page, "next_cursor")?.stringValue else { break }
            query.cursor = cursor
        }
        #expect(paged == all)

        // Newest occurred_at first, then by id.
        let keys = all.map { ($0["occurred_at"]?.stringValue.flatMap(RFC3339.parseMillis) ?? 0, $0["incident_id"]?.stringValue ?? "") }
        for (a, b) in zip(keys, keys.dropFirst()) {
            #expect(a.0 > b.0 || (a.0 == b.0 && Array(a.1.utf8).lexicographicallyPrecedes(Array(b.1.utf8))))
        }
    }

    @Test func filtersSelectBySectorCategoryStatusAndVerification() throws {
        let log = GoldenLog.make()
        let state = log.folded()
        func ids(_ q: IncidentQuery) throws -> [String] {
            try #require(value(try state.incidents(q, lookup: log.lookup), "incidents")?.arrayValue).compactMap {
                $0["incident_id"]?.stringValue
            }
        }
        #expect(try ids(IncidentQuery(sector: "east")) == [GoldenLog.i2, GoldenLog.i1])
        #expect(try ids(IncidentQuery(sector: "east", status: "closed")) == [GoldenLog.i2])
        #expect(try ids(IncidentQuery(category: "ied")) == [GoldenLog.i5, GoldenLog.i1])
        #expect(try ids(IncidentQuery(status: "retracted")) == [GoldenLog.i5])
        #expect(try ids(IncidentQuery(verification: "verified")) == [GoldenLog.i1])
        #expect(try ids(IncidentQuery(verification: "disputed")) == [GoldenLog.i7])
        #expect(try ids(IncidentQuery(sector: "nowhere")) == [])
        // I6 was reported as an ambush and updated to armed_clash: it is listed as what it is now.
        #expect(try ids(IncidentQuery(category: "armed_clash")) == [GoldenLog.i6])
        #expect(try ids(IncidentQuery(category: "ambush")) == [])
    }

    @Test func rowsShowTheCurrentStateAndTheValuesAsWritten() throws {
        let log = GoldenLog.make()
        let page = try log.folded().incidents(IncidentQuery(sector: "west"), lookup: log.lookup)
        let none = #"{"killed":0,"missing":0,"wounded":0}"#
        let expected = canonical("""
            {"incidents":[{"actors":null,
                           "casualties":{"disputed":false,
                                         "figure":{"armed_groups":\(none),"civilians":{"killed":3,"missing":0,"wounded":4},
                                                   "national_forces":\(none),"other":\(none),"peacekeepers":\(none)},
                                         "high":{"killed":3,"missing":0,"wounded":4},"low":{"killed":3,"missing":0,"wounded":4},"reports":1},
                           "category":"armed_clash","confidence":null,"incident_id":"TBK-0006","location":{"name":"Ber"},
                           "occurred_at":"2026-11-29T14:00:00Z","reported_at":"2026-11-29T15:00:00.000Z","reported_by":"timbuktu:1",
                           "sector":"west","source":null,"status":"open","summary":"Patrol ambushed","time_precision":null,
                           "updated_at":"2026-11-29T17:30:00.000Z","verification":"unverified"}],
             "next_cursor":null,"total":1}
            """)
        #expect(page.text == expected)
    }

    /// Where the origins' reports disagree, the row carries the counted figure and the range of
    /// the reports' totals; every field is the value its latest writer set.
    @Test func rowsCarryTheCasualtyRangeWhereReportsDisagree() throws {
        let log = GoldenLog.make()
        let page = try log.folded().incidents(IncidentQuery(sector: "east", status: "open"), lookup: log.lookup)
        let none = #"{"killed":0,"missing":0,"wounded":0}"#
        let expected = canonical("""
            {"incidents":[{"actors":["unidentified armed group"],
                           "casualties":{"disputed":true,
                                         "figure":{"armed_groups":\(none),"civilians":{"killed":0,"missing":0,"wounded":1},
                                                   "national_forces":\(none),"other":\(none),"peacekeepers":{"killed":1,"missing":0,"wounded":3}},
                                         "high":{"killed":1,"missing":0,"wounded":4},"low":{"killed":1,"missing":0,"wounded":3},"reports":2},
                           "category":"ied","confidence":"high","incident_id":"\(GoldenLog.i1)",
                           "location":{"lat":16.2,"lon":-0.04,"name":"Gao road, km 12","precision":"near"},
                           "occurred_at":"2026-11-28T06:00:00Z","reported_at":"2026-11-29T08:00:00.000Z","reported_by":"gao:1",
                           "sector":"east","source":"convoy escort","status":"open","summary":"IED on the Gao–Ansongo road",
                           "time_precision":"minute","updated_at":"2026-11-29T09:45:00.000Z","verification":"verified"}],
             "next_cursor":null,"total":1}
            """)
        #expect(page.text == expected)
        // An incident without a report of casualties has none, rather than zeros.
        let closed = try log.folded().incidents(IncidentQuery(sector: "east", status: "closed"), lookup: log.lookup)
        #expect(value(closed, "incidents", "0", "casualties") == .null)
    }

    @Test func badFiltersLimitsAndCursorsAreRefusedWithStableCodes() {
        let state = GoldenLog.make().folded()
        let lookup = GoldenLog.make().lookup
        let cases: [(IncidentQuery, ProjectionQueryError.Code)] = [
            (IncidentQuery(category: "uprising"), .invalidFilter),
            (IncidentQuery(status: "pending"), .invalidFilter),
            (IncidentQuery(verification: "maybe"), .invalidFilter),
            (IncidentQuery(limit: 0), .invalidLimit),
            (IncidentQuery(limit: IncidentQuery.maximumLimit + 1), .invalidLimit),
            (IncidentQuery(cursor: "garbage"), .invalidCursor),
            (IncidentQuery(cursor: "12.zz"), .invalidCursor),
        ]
        for (q, code) in cases {
            do {
                _ = try state.incidents(q, lookup: lookup)
                Issue.record("accepted \(q)")
            } catch {
                #expect(error.code == code)
            }
        }
    }
}

import IncidentModel
import Projections

/// Every view a node answers, named, for comparing two states byte for byte.
enum AllViews {
    static let ranges: [DayRange] = [
        .all,
        try! DayRange(since: "2026-11-29", until: "2026-12-01"),
        try! DayRange(since: "2026-12-02T10:00:00Z", until: nil),
    ]

    static func collect(_ s: ProjectionState, incidentIDs: [String], lookup: EventLookup) -> [(name: String, bytes: [UInt8])] {
        var out: [(String, [UInt8])] = []
        for (r, range) in ranges.enumerated() {
            for sector in s.listedSectors + ["nowhere"] {
                out.append(("sector \(sector) range \(r)", s.sectorView(sector, range: range) ?? []))
            }
            out.append(("overview range \(r)", s.overview(range: range)))
        }
        for id in incidentIDs {
            out.append(("incident \(id)", s.incidentView(id: id, lookup: lookup) ?? []))
        }
        let queries: [IncidentQuery] = [
            IncidentQuery(limit: 7),
            IncidentQuery(status: "open"),
            IncidentQuery(status: "retracted"),
            IncidentQuery(sector: "east", status: "closed"),
            IncidentQuery(category: "ied", range: ranges[1]),
            IncidentQuery(verification: "verified", limit: 3),
        ]
        for (n, q) in queries.enumerated() {
            // Every page, following the cursors.
            var query = q
            var page = 0
            while true {
                let bytes = try! s.incidents(query, lookup: lookup)
                out.append(("incidents query \(n) page \(page)", bytes))
                guard let next = value(bytes, "next_cursor")?.stringValue, page < 100 else { break }
                query.cursor = next
                page += 1
            }
        }
        return out
    }
}

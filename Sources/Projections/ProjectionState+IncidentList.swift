public import IncidentModel

// The incidents list:
//
//   {"incidents":[{"category":"ied","incident_id":"…","occurred_at":"…","reported_by":"gao:3",
//                  "sector":"east","status":"open","summary":"…","verification":"unverified"},…],
//    "next_cursor":"…"|null,"total":17}
//
// `total` counts every incident matching the filters (all pages); `next_cursor` is null on the
// last page. `occurred_at` and `summary` are read back from the events that set them.
extension ProjectionState {
    public func incidents(_ q: IncidentQuery, lookup: EventLookup) throws(ProjectionQueryError) -> [UInt8] {
        guard (1...IncidentQuery.maximumLimit).contains(q.limit) else {
            throw ProjectionQueryError(.invalidLimit, "limit must be 1…\(IncidentQuery.maximumLimit), got \(q.limit)")
        }
        let category = try Self.filterCode(q.category, Vocabulary.incidentCategories, "category")
        let status = try Self.filterCode(q.status, IncidentQuery.statuses, "status")
        let verification = try Self.filterCode(q.verification, Vocabulary.verificationStatuses, "verification")
        let cursor = try q.cursor.map { c throws(ProjectionQueryError) in try IncidentCursor(c) }
        // A sector no event named matches nothing (but is not an error: it may just be quiet).
        let sector: UInt16?? = q.sector.map { s in sectorNames.firstIndex(of: s).map { UInt16($0) } }
        if case .some(.none) = sector { return Self.emptyList }

        // Newest occurred_at first, then id; keep the first limit+1 (one more tells whether a next
        // page exists) in one pass over the records, without sorting them all.
        func before(_ a: Int, _ b: Int) -> Bool {
            let x = incidents[a]
            let y = incidents[b]
            if x.occurredAt != y.occurredAt { return x.occurredAt > y.occurredAt }
            return EntityKey.precedes(x.key, y.key)
        }
        var page: [Int] = []
        var total = 0
        for i in incidents.indices {
            let r = incidents[i]
            guard r.isReported, range(q.range, contains: r) else { continue }
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
            if page.count > q.limit, let last = page.last, !before(i, last) { continue }
            var lo = 0
            var hi = page.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if before(page[mid], i) { lo = mid + 1 } else { hi = mid }
            }
            page.insert(i, at: lo)
            if page.count > q.limit + 1 { page.removeLast() }
        }
        let more = page.count > q.limit
        if more { page.removeLast() }

        var w = JSONWriter(reservingCapacity: 256 * page.count + 64)
        w.raw("{\"incidents\":[")
        for i in page {
            w.element()
            writeRow(i, lookup: lookup, to: &w)
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

    static let emptyList = Array("{\"incidents\":[],\"next_cursor\":null,\"total\":0}".utf8)

    func range(_ range: DayRange, contains r: IncidentRecord) -> Bool { range.contains(r.day) }

    static func filterCode(_ value: String?, _ allowed: [String], _ name: String) throws(ProjectionQueryError) -> UInt8? {
        guard let value else { return nil }
        guard let i = allowed.firstIndex(of: value) else {
            throw ProjectionQueryError(
                .invalidFilter, "\(name): unknown value \"\(value)\" (allowed: \(allowed.joined(separator: ", ")))")
        }
        return UInt8(i)
    }

    func writeRow(_ i: Int, lookup: EventLookup, to w: inout JSONWriter) {
        let r = incidents[i]
        w.raw("{\"category\":")
        w.string(Vocabulary.incidentCategories[Int(r.category)])
        w.raw(",\"incident_id\":")
        r.key.write(to: &w)
        w.raw(",\"occurred_at\":")
        let occurredNode = r.registers[FoldCodes.fieldOccurredAt]
        if occurredNode != noNode, let value = registerValue(node: occurredNode, field: "occurred_at", lookup: lookup) {
            w.raw(value)
        } else {
            w.raw(UInt8(ascii: "\""))
            RFC3339.append(millis: r.occurredAt, to: &w.bytes)
            w.raw(UInt8(ascii: "\""))
        }
        w.raw(",\"reported_by\":")
        writeEventID(r.created, to: &w)
        w.raw(",\"sector\":")
        w.string(sectorName(r.sector))
        w.raw(",\"status\":")
        w.string(r.retracted ? "retracted" : Vocabulary.incidentStatuses[Int(r.status)])
        w.raw(",\"summary\":")
        let summaryNode = r.registers[1]
        if summaryNode != noNode, let value = registerValue(node: summaryNode, field: "summary", lookup: lookup) {
            w.raw(value)
        } else {
            w.raw("null")
        }
        w.raw(",\"verification\":")
        w.string(Vocabulary.verificationStatuses[Int(r.verification)])
        w.raw(UInt8(ascii: "}"))
    }

    func registerValue(node: UInt32, field: StaticString, lookup: EventLookup) -> [UInt8]? {
        var w = JSONWriter(reservingCapacity: 128)
        writeFieldValue(node: node, field: field, lookup: lookup, to: &w)
        return w.bytes == Array("null".utf8) ? nil : w.bytes
    }
}

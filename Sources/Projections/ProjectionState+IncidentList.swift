public import IncidentModel

// The incidents list:
//
//   {"incidents":[{"actors":["…"]|null,
//                  "casualties":{"disputed":false,"figure":{"armed_groups":{"killed":0,"missing":0,"wounded":0},…},
//                                "high":{"killed":1,"missing":0,"wounded":4},"low":{"killed":1,"missing":0,"wounded":3},
//                                "reports":2}|null,
//                  "category":"ied","confidence":"high"|null,"incident_id":"…",
//                  "location":{"name":"…","lat":16.2,…}|null,"occurred_at":"…",
//                  "reported_at":"…"|null,"reported_by":"gao:3","sector":"east","source":"…"|null,
//                  "status":"open","summary":"…","time_precision":"minute"|null,
//                  "updated_at":"…"|null,"verification":"unverified"},…],
//    "next_cursor":"…"|null,"total":17}
//
// `total` counts every incident matching the filters (all pages); `next_cursor` is null on the
// last page. A row is the incident as it stands: each field the value its register's winner
// wrote (read back from that event, as the incident view does; null when no event set it or the
// event cannot be read), `status` and `verification` as in the incident view. `casualties` is
// null without a report; else `figure` is the figure the sector view counts for the incident
// (the latest report overall, by group), `low` and `high` the smallest and largest totals over
// all groups that the standing reports of the origins give (equal to the figure's totals unless
// `disputed`), `reports` how many origins' reports stand. `reported_at` is the `recorded_at` of
// the creating report, `updated_at` that of the newest event naming the incident (in the fold's
// order). Everything in a row is a function of the log, never of the moment of the query.
//
// Cost: pages come from the fold's index in list order (IncidentListIndex.swift). A page walks
// the index from its cursor (a binary search) until limit+1 rows match the filters: O(log n +
// limit) without filters, and the entries the filters pass over otherwise. `total` without
// `since`/`until` sums the index's per-cell counts (sector × category × status × verification);
// with a range it walks the entries between the range's ends (each found by a binary search on
// occurred_at), so it is linear in the incidents of those days.
//
// Two steps, so that the fold's lock is not held while a page reads the log: `incidentsPage`
// walks the index and writes every byte the state decides, under the lock, leaving in each row
// the event ids whose values it shows; `IncidentPage.render` then reads those events back and
// fills them in, after the lock is released. Events never change once stored, so the page is the
// state of one moment, as if it had been rendered whole under the lock.
extension ProjectionState {
    /// `incidentsPage(q)` rendered at once (for callers that hold the state itself).
    public func incidents(_ q: IncidentQuery, lookup: EventLookup) throws(ProjectionQueryError) -> [UInt8] {
        try incidentsPage(q).render(lookup: lookup)
    }

    /// The page of the incidents list `q` asks for, as the state has it now: everything but the
    /// values read back from the log, which `render` adds (see the top of this file).
    public func incidentsPage(_ q: IncidentQuery) throws(ProjectionQueryError) -> IncidentPage {
        guard (1...IncidentQuery.maximumLimit).contains(q.limit) else {
            throw ProjectionQueryError(.invalidLimit, "limit must be 1…\(IncidentQuery.maximumLimit), got \(q.limit)")
        }
        let category = try Self.filterCode(q.category, Vocabulary.incidentCategories, "category")
        let status = try Self.filterCode(q.status, IncidentQuery.statuses, "status")
        let verification = try Self.filterCode(q.verification, Vocabulary.verificationStatuses, "verification")
        let cursor = try q.cursor.map { c throws(ProjectionQueryError) in try IncidentCursor(c) }
        // A sector no event named matches nothing (but is not an error: it may just be quiet).
        let sector: UInt16?? = q.sector.map { s in sectorNames.firstIndex(of: s).map { UInt16($0) } }
        if case .some(.none) = sector { return IncidentPage(literal: Self.emptyList) }

        // Walk the index (see IncidentListIndex.swift) from the later of the cursor and the
        // range's first day, to the range's last day, until limit+1 rows match (one more tells
        // whether a next page exists).
        let index = incidentList
        let records = incidents
        let sectorCode: UInt16? = if case .some(.some(let s)) = sector { s } else { nil }
        func matches(_ c: IncidentListIndex.Cell) -> Bool {
            if let sectorCode, c.sector != sectorCode { return false }
            if let category, c.category != category { return false }
            if let verification, c.verification != verification { return false }
            if let status, c.listedStatus != status { return false }
            return true
        }
        // Every entry of the index is a reported incident, so it has a listing.
        func matches(_ e: IncidentListIndex.Entry) -> Bool { listing(Int(e.incident)).map { matches($0.cell) } ?? false }
        func day(_ e: IncidentListIndex.Entry) -> Int32 { Int32(clamping: RFC3339.dayNumber(millis: e.occurredAt)) }
        let rangeStart = q.range.untilDay.map { u in index.firstPosition { Int(day($0)) <= u } } ?? IncidentListIndex.Position(block: 0, offset: 0)
        let rangeEnd = q.range.sinceDay.map { s in index.firstPosition { Int(day($0)) < s } } ?? index.end
        var p = rangeStart
        if let cursor {
            let key = cursor.key
            let afterCursor = index.firstPosition { e in
                e.occurredAt < cursor.occurredAt
                    || (e.occurredAt == cursor.occurredAt && EntityKey.precedes(key, records[Int(e.incident)].key))
            }
            p = max(p, afterCursor)
        }
        var page: [Int] = []
        while p < rangeEnd, page.count <= q.limit {
            let e = index.entry(at: p)
            if matches(e) { page.append(Int(e.incident)) }
            p = index.after(p)
        }
        // `total`: a sum over the filter cells, or with a range a walk over the range's entries.
        var total = 0
        if q.range == .all {
            for (c, n) in index.cells where matches(c) { total += n }
        } else {
            var t = rangeStart
            while t < rangeEnd {
                if matches(index.entry(at: t)) { total += 1 }
                t = index.after(t)
            }
        }
        let more = page.count > q.limit
        if more { page.removeLast() }

        var out = IncidentPage(reservingCapacity: 320 * page.count + 96)
        out.literal.raw("{\"incidents\":[")
        for (k, i) in page.enumerated() {
            if k > 0 { out.literal.raw(UInt8(ascii: ",")) }
            planRow(i, into: &out)
        }
        out.literal.raw("],\"next_cursor\":")
        if more, let last = page.last {
            out.literal.string(IncidentCursor(occurredAt: incidents[last].occurredAt, key: incidents[last].key).text)
        } else {
            out.literal.raw("null")
        }
        out.literal.raw(",\"total\":")
        out.literal.integer(total)
        out.literal.raw(UInt8(ascii: "}"))
        return out
    }

    static let emptyList = Array("{\"incidents\":[],\"next_cursor\":null,\"total\":0}".utf8)

    static func filterCode(_ value: String?, _ allowed: [String], _ name: String) throws(ProjectionQueryError) -> UInt8? {
        guard let value else { return nil }
        guard let i = allowed.firstIndex(of: value) else {
            throw ProjectionQueryError(
                .invalidFilter, "\(name): unknown value \"\(value)\" (allowed: \(allowed.joined(separator: ", ")))")
        }
        return UInt8(i)
    }

    /// Row `i` of a page, written into `page`: its bytes, with a hole for each value read back
    /// from an event.
    func planRow(_ i: Int, into page: inout IncidentPage) {
        let r = incidents[i]
        let row = Int32(page.rows)
        page.rows += 1
        // One id per event, shared by the holes that read it.
        var ids: [(node: UInt32, id: String)] = []
        func id(_ node: UInt32) -> String {
            if let hit = ids.first(where: { $0.node == node }) { return hit.id }
            let text = eventID(history[Int(node)].ref)
            ids.append((node, text))
            return text
        }
        func field(_ f: Int, orElse fallback: IncidentPage.Fallback = .null) {
            let node = r.registers[f]
            guard node != noNode else { return page.write(fallback) }
            let isUpdate = history[Int(node)].type == FoldCodes.code(.incidentUpdated)
            page.hole(row: row, event: id(node), .field(FoldCodes.incidentFields[f], inChanges: isUpdate, orElse: fallback))
        }
        func recordedAt(_ node: UInt32) {
            guard node != noNode else { return page.literal.raw("null") }
            page.hole(row: row, event: id(node), .recordedAt)
        }
        // The fields in increasing order of name, as they stand in a payload: `render` walks
        // each event's payload once.
        page.literal.raw("{\"actors\":")
        field(FoldCodes.fieldActors)
        page.literal.raw(",\"casualties\":")
        writeRowCasualties(r.casualties, to: &page.literal)
        page.literal.raw(",\"category\":")
        page.literal.string(Vocabulary.incidentCategories[Int(r.category)])
        page.literal.raw(",\"confidence\":")
        field(FoldCodes.fieldConfidence)
        page.literal.raw(",\"incident_id\":")
        r.key.write(to: &page.literal)
        page.literal.raw(",\"location\":")
        field(FoldCodes.fieldLocation)
        page.literal.raw(",\"occurred_at\":")
        // The value as written, else the instant the fold keeps.
        field(FoldCodes.fieldOccurredAt, orElse: .instant(r.occurredAt))
        page.literal.raw(",\"reported_at\":")
        recordedAt(r.created)
        page.literal.raw(",\"reported_by\":")
        writeEventID(r.created, to: &page.literal)
        page.literal.raw(",\"sector\":")
        page.literal.string(sectorName(r.sector))
        page.literal.raw(",\"source\":")
        field(FoldCodes.fieldSource)
        page.literal.raw(",\"status\":")
        page.literal.string(r.retracted ? "retracted" : Vocabulary.incidentStatuses[Int(r.status)])
        page.literal.raw(",\"summary\":")
        field(FoldCodes.fieldSummary)
        page.literal.raw(",\"time_precision\":")
        field(FoldCodes.fieldTimePrecision)
        page.literal.raw(",\"updated_at\":")
        recordedAt(newestHistoryNode(of: r))
        page.literal.raw(",\"verification\":")
        page.literal.string(Vocabulary.verificationStatuses[Int(r.verification)])
        page.literal.raw(UInt8(ascii: "}"))
    }

    /// The row's casualties: the counted figure by group, and the range of the standing reports' totals.
    func writeRowCasualties(_ reports: [CasualtyReport], to w: inout JSONWriter) {
        let (figure, isDisputed) = casualtyFigure(reports)
        guard let figure else {
            w.raw("null")
            return
        }
        var low = SIMD3<Int64>(repeating: .max)
        var high = SIMD3<Int64>(repeating: .min)
        for report in reports {
            var total = SIMD3<Int64>()
            for g in 0..<FoldCodes.casualtyGroups.count {
                total &+= SIMD3(Int64(report.counts[g * 3]), Int64(report.counts[g * 3 + 1]), Int64(report.counts[g * 3 + 2]))
            }
            low = pointwiseMin(low, total)
            high = pointwiseMax(high, total)
        }
        func kinds(_ t: SIMD3<Int64>) {
            w.raw("{\"killed\":")
            w.integer(t[0])
            w.raw(",\"missing\":")
            w.integer(t[2])
            w.raw(",\"wounded\":")
            w.integer(t[1])
            w.raw(UInt8(ascii: "}"))
        }
        w.raw("{\"disputed\":")
        w.bool(isDisputed)
        w.raw(",\"figure\":")
        Self.writeCasualtyGroups(SIMD16<Int64>(truncatingIfNeeded: figure.counts), to: &w)
        w.raw(",\"high\":")
        kinds(high)
        w.raw(",\"low\":")
        kinds(low)
        w.raw(",\"reports\":")
        w.integer(reports.count)
        w.raw(UInt8(ascii: "}"))
    }

    /// The newest event naming the incident, in the fold's total order.
    func newestHistoryNode(of r: IncidentRecord) -> UInt32 {
        var newest = noNode
        var n = r.head
        var steps = 0
        while n != noNode, steps < history.count {
            if newest == noNode || precedes(history[Int(newest)].ref, history[Int(n)].ref) { newest = n }
            n = history[Int(n)].next
            steps += 1
        }
        return newest
    }
}

/// A page of the incidents list (`ProjectionState.incidentsPage`), or the incident view
/// (`incidentViewPage`, one row), as the fold's state gave it: its bytes, with holes where it
/// shows a value read back from a stored event, filled by `render`.
public struct IncidentPage: Sendable {
    /// What a value that cannot be read back is written as.
    enum Fallback: Sendable {
        case null
        /// An RFC 3339 instant (the `occurred_at` the fold keeps).
        case instant(Int64)
    }

    /// The value a hole is filled with.
    enum Value: Sendable {
        /// Member `name` of the event's `data` (of `data.changes` for an update), raw.
        case field(StaticString, inChanges: Bool, orElse: Fallback)
        /// The event's `recorded_at`; null when the event cannot be read.
        case recordedAt
        /// `"name":` and member `name` of the event's `data`, raw, then a comma; nothing when the
        /// event cannot be read or has no such member. The member after it is written as the
        /// object's first (`{` before the hole).
        case optionalMember(StaticString)
    }

    struct Hole: Sendable {
        /// Where in `literal` the value goes.
        var at: Int
        var row: Int32
        var event: String
        var value: Value
    }

    /// Every byte the state decides, in order; the holes' values go between them.
    var literal: JSONWriter
    var holes: [Hole] = []
    var rows = 0

    init(reservingCapacity capacity: Int) {
        literal = JSONWriter(reservingCapacity: capacity)
    }

    init(literal bytes: [UInt8]) {
        literal = JSONWriter()
        literal.raw(bytes)
    }

    init(literal: JSONWriter, holes: [Hole], rows: Int) {
        self.literal = literal
        self.holes = holes
        self.rows = rows
    }

    mutating func hole(row: Int32, event: String, _ value: Value) {
        holes.append(Hole(at: literal.bytes.count, row: row, event: event, value: value))
    }

    mutating func write(_ fallback: Fallback) {
        Self.write(fallback, to: &literal)
    }

    static func write(_ fallback: Fallback, to w: inout JSONWriter) {
        switch fallback {
        case .null:
            w.raw("null")
        case .instant(let millis):
            w.raw(UInt8(ascii: "\""))
            RFC3339.append(millis: millis, to: &w.bytes)
            w.raw(UInt8(ascii: "\""))
        }
    }

    /// The page's bytes: the holes filled with the values read back through `lookup` (one read
    /// per event and row, each payload walked once). Called without the fold's lock.
    public func render(lookup: EventLookup) -> [UInt8] {
        let bytes = literal.bytes
        var out = JSONWriter(reservingCapacity: bytes.count + 256 * rows)
        var position = 0
        var row: Int32 = -1
        var events = RowEvents()
        for hole in holes {
            out.raw(bytes[position..<hole.at])
            position = hole.at
            if hole.row != row {
                row = hole.row
                events = RowEvents()
            }
            switch hole.value {
            case .field(let name, let inChanges, let fallback):
                if !events.writeFieldValue(hole.event, name, inChanges: inChanges, lookup, to: &out) {
                    Self.write(fallback, to: &out)
                }
            case .recordedAt:
                if let event = events.event(hole.event, lookup) { out.string(event.recordedAt) } else { out.raw("null") }
            case .optionalMember(let name):
                let start = out.bytes.count
                out.raw(UInt8(ascii: "\""))
                out.raw(name)
                out.raw("\":")
                if events.writeFieldValue(hole.event, name, inChanges: false, lookup, to: &out) {
                    out.raw(UInt8(ascii: ","))
                } else {
                    out.bytes.removeSubrange(start...)
                }
            }
        }
        out.raw(bytes[position...])
        return out.bytes
    }
}

/// The events one incident row (or the incident view) reads back, each looked up once: a row's
/// fields mostly come from one or two events (the report, an update), and a lookup reads and
/// parses a stored line. Each
/// event's payload (or the `changes` of an update) is walked once for all the fields the row
/// reads from it, in increasing order of name.
struct RowEvents {
    var seen: [(id: String, event: Event?, walk: PayloadReader.MemberWalk?)] = []

    mutating func slot(_ id: String, _ lookup: EventLookup) -> Int {
        if let hit = seen.firstIndex(where: { $0.id == id }) { return hit }
        seen.append((id, lookup(id), nil))
        return seen.count - 1
    }

    mutating func event(_ id: String, _ lookup: EventLookup) -> Event? {
        seen[slot(id, lookup)].event
    }

    /// Writes the value of an incident field as the event `id` wrote it, raw: `data.<field>` of a
    /// report, `data.changes.<field>` of an update (`inChanges`); false (nothing written) when
    /// the event cannot be read back or has no such member.
    mutating func writeFieldValue(
        _ id: String, _ field: StaticString, inChanges: Bool, _ lookup: EventLookup, to w: inout JSONWriter
    ) -> Bool {
        let k = slot(id, lookup)
        guard let event = seen[k].event else { return false }
        return event.line.withUnsafeBufferPointer { buffer in
            let p = PayloadReader(buffer)
            var walk =
                seen[k].walk
                ?? {
                    guard inChanges else { return p.walk(of: event.dataRange) }
                    return p.member("changes", of: event.dataRange).map { p.walk(of: $0) } ?? .empty
                }()
            defer { seen[k].walk = walk }
            guard let value = p.member(field, in: &walk) else { return false }
            w.raw(p.raw(value))
            return true
        }
    }
}

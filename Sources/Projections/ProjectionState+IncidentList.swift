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
        var events = RowEvents()
        // The fields are written in increasing order of name, as they stand in a payload: the
        // row walks each event's payload once.
        func field(_ f: Int) {
            let node = r.registers[f]
            if node != noNode, let value = events.fieldValue(node, FoldCodes.incidentFields[f], in: self, lookup) {
                w.raw(value)
            } else {
                w.raw("null")
            }
        }
        func recordedAt(_ node: UInt32) {
            if node != noNode, let event = events.event(node, in: self, lookup) { w.string(event.recordedAt) } else { w.raw("null") }
        }
        w.raw("{\"actors\":")
        field(FoldCodes.fieldActors)
        w.raw(",\"casualties\":")
        writeRowCasualties(r.casualties, to: &w)
        w.raw(",\"category\":")
        w.string(Vocabulary.incidentCategories[Int(r.category)])
        w.raw(",\"confidence\":")
        field(FoldCodes.fieldConfidence)
        w.raw(",\"incident_id\":")
        r.key.write(to: &w)
        w.raw(",\"location\":")
        field(FoldCodes.fieldLocation)
        w.raw(",\"occurred_at\":")
        let occurredNode = r.registers[FoldCodes.fieldOccurredAt]
        let occurred = occurredNode == noNode ? nil : events.fieldValue(occurredNode, "occurred_at", in: self, lookup)
        if let occurred {
            w.raw(occurred)
        } else {
            w.raw(UInt8(ascii: "\""))
            RFC3339.append(millis: r.occurredAt, to: &w.bytes)
            w.raw(UInt8(ascii: "\""))
        }
        w.raw(",\"reported_at\":")
        recordedAt(r.created)
        w.raw(",\"reported_by\":")
        writeEventID(r.created, to: &w)
        w.raw(",\"sector\":")
        w.string(sectorName(r.sector))
        w.raw(",\"source\":")
        field(FoldCodes.fieldSource)
        w.raw(",\"status\":")
        w.string(r.retracted ? "retracted" : Vocabulary.incidentStatuses[Int(r.status)])
        w.raw(",\"summary\":")
        field(FoldCodes.fieldSummary)
        w.raw(",\"time_precision\":")
        field(FoldCodes.fieldTimePrecision)
        w.raw(",\"updated_at\":")
        recordedAt(newestHistoryNode(of: r))
        w.raw(",\"verification\":")
        w.string(Vocabulary.verificationStatuses[Int(r.verification)])
        w.raw(UInt8(ascii: "}"))
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

/// The events one incident row reads back, each looked up once: a row's fields mostly come from
/// one or two events (the report, an update), and a lookup reads and parses a stored line. Each
/// event's payload (or the `changes` of an update) is walked once for all the fields the row
/// reads from it, in increasing order of name.
struct RowEvents {
    var seen: [(node: UInt32, event: Event?, walk: PayloadReader.MemberWalk?)] = []

    mutating func slot(_ node: UInt32, in state: ProjectionState, _ lookup: EventLookup) -> Int {
        if let hit = seen.firstIndex(where: { $0.node == node }) { return hit }
        seen.append((node, lookup(state.eventID(state.history[Int(node)].ref)), nil))
        return seen.count - 1
    }

    mutating func event(_ node: UInt32, in state: ProjectionState, _ lookup: EventLookup) -> Event? {
        seen[slot(node, in: state, lookup)].event
    }

    /// The raw bytes of `field` in the event at `node` (in `changes` for an update), as
    /// `ProjectionState.fieldValue` reads them.
    mutating func fieldValue(_ node: UInt32, _ field: StaticString, in state: ProjectionState, _ lookup: EventLookup) -> [UInt8]? {
        let k = slot(node, in: state, lookup)
        guard let event = seen[k].event else { return nil }
        return event.line.withUnsafeBufferPointer { buffer in
            let p = PayloadReader(buffer)
            var walk =
                seen[k].walk
                ?? {
                    guard state.history[Int(node)].type == FoldCodes.code(.incidentUpdated) else { return p.walk(of: event.dataRange) }
                    return p.member("changes", of: event.dataRange).map { p.walk(of: $0) } ?? .empty
                }()
            defer { seen[k].walk = walk }
            return p.member(field, in: &walk).map { Array(p.raw($0)) }
        }
    }
}

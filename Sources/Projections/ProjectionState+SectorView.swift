import IncidentModel

// The sector view, the overview and freshness.
//
//   sector:   {"casualties":{"disputed":[…],"disputed_count":n,"groups":{…},"total":{…}},"election":{…},"freshness":{…},"incidents":{…},"intel":{…},
//              "medevac":{…},"polling_stations":{…},"range":{…},"sector":"east"}
//   overview: {"freshness":{…},"mission":{…totals…},"range":{…},
//              "sectors":[{…same members as a sector, without freshness…,"sector":"north"},…]}
//
// Keys are sorted; everything listed is in a fixed order (vocabulary names and origins sorted by
// bytes, disputed incidents by id), so equal states give equal bytes. The size of a view does not
// depend on what events name: the sectors are the configured ones, at most `disputedListLimit`
// disputed incidents and `itemListLimit` item names per map are listed, the rest counted
// (`disputed_count`, `items_unlisted`). Query-time ages are not
// here: see `freshnessAges(nowMillis:)`.
extension ProjectionState {
    /// Sectors the overview lists: the configured ones in their order. Events of any other
    /// sector are quarantined (ProjectionState.swift), so no other sector is ever folded.
    public var listedSectors: [String] { sectors }

    /// The view of one sector, or nil when the sector is not configured.
    public func sectorView(_ name: String, range: DayRange = .all) -> [UInt8]? {
        sectorViewParts(name, range: range)?.render()
    }

    /// Every listed sector side by side, and the mission totals (all sectors together).
    public func overview(range: DayRange = .all) -> [UInt8] {
        overviewParts(range: range).render()
    }

    /// What the view of one sector over `range` is made of, as the state has it now
    /// (`RangeView`); nil when the sector is not configured.
    public func sectorViewParts(_ name: String, range: DayRange) -> RangeView? {
        sectorPart(name, range: range).map { RangeView(parts: [$0], isOverview: false, freshness: freshness(), itemNames: itemNames, range: range) }
    }

    /// What the overview over `range` is made of, as the state has it now (`RangeView`).
    public func overviewParts(range: DayRange) -> RangeView {
        RangeView(
            parts: listedSectors.map { sectorPart($0, range: range)! }, isOverview: true, freshness: freshness(), itemNames: itemNames,
            range: range)
    }

    /// One configured sector's counts and disputed incidents over `range`, rendered; nil when
    /// the sector is not configured.
    func sectorAnswer(_ name: String, range: DayRange) -> SectorAnswer? {
        sectorPart(name, range: range)?.answer(itemNames: itemNames)
    }

    /// One configured sector's buckets over `range` (its running total over all days) and its
    /// disputed incidents there, rendered; nil when the sector is not configured.
    func sectorPart(_ name: String, range: DayRange) -> RangeView.Part? {
        let slot = sectorNames.firstIndex(of: name).map { UInt16($0) }
        guard slot != nil || sectors.contains(name) else { return nil }
        var parts: [Bucket] = []
        if let slot, range == .all {
            if Int(slot) < sectorTotals.count { parts = [sectorTotals[Int(slot)]] }
        } else if let slot {
            for (k, b) in buckets where k.sector == slot && range.contains(k.day) { parts.append(b) }
        }
        let disputed = slot.map { disputedIncidents(sector: $0, range: range) } ?? []
        let listed = disputed.prefix(Self.disputedListLimit).map { i in
            var w = JSONWriter(reservingCapacity: 512)
            writeDisputed(i, to: &w)
            return SectorAnswer.Disputed(occurredAt: incidents[i].occurredAt, key: incidents[i].key, bytes: w.bytes)
        }
        return RangeView.Part(name: name, buckets: parts, disputed: listed, disputedCount: disputed.count)
    }

    /// `{"gao":{"hlc":…},…}` (see `writeFreshness`).
    func freshness() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 128 * origins.count + 2)
        writeFreshness(to: &w)
        return w.bytes
    }

    /// The query-time part that goes beside a view: `{"ages":{"gao":42,…},"as_of":"…"}`, each
    /// age the whole seconds from the `recorded_at` of the newest event held from that origin to
    /// `nowMillis` (0 when the origin's clock is ahead). Kept out of the folded views so that
    /// those stay identical on every node.
    public func freshnessAges(nowMillis: Int64) -> [UInt8] {
        OriginClock.writeAges(originClocks, nowMillis: nowMillis)
    }

    /// Each origin's age as `freshnessAges` writes it (whole seconds, sorted by name); the node's
    /// metrics export the same figures.
    public func freshnessAgeSeconds(nowMillis: Int64) -> [(origin: String, seconds: Int64)] {
        OriginClock.ages(originClocks, nowMillis: nowMillis)
    }

    /// Each origin's name and the `recorded_at` of its newest event held, sorted by name.
    var originClocks: [OriginClock] {
        sortedByName(origins.map(\.name)).map { i, name in OriginClock(origin: name, recordedMillis: RFC3339.parseMillis(origins[i].recordedAt)) }
    }

    /// `{"gao":{"hlc":"…","recorded_at":"…","seq":12},…}`: the newest event held from each origin.
    func writeFreshness(to w: inout JSONWriter) {
        w.raw(UInt8(ascii: "{"))
        for (i, name) in sortedByName(origins.map(\.name)) {
            let o = origins[i]
            w.key(name)
            w.raw("{\"hlc\":")
            w.hlc(o.hlc.wallMillis, o.hlc.counter)
            w.raw(",\"recorded_at\":")
            w.string(o.recordedAt)
            w.raw(",\"seq\":")
            w.integer(o.seq)
            w.raw(UInt8(ascii: "}"))
        }
        w.raw(UInt8(ascii: "}"))
    }

    func sectorName(_ i: UInt16) -> String { Int(i) < sectorNames.count ? sectorNames[Int(i)] : "" }

    /// How many disputed incidents a sector or mission view lists in full (the newest by
    /// occurred_at, then by id); `disputed_count` gives them all, the incident view each one.
    public static let disputedListLimit = 20

    /// Counted incidents with a disputed figure in `sector` (all when nil) and `range`, newest
    /// occurred_at first, then by id.
    func disputedIncidents(sector: UInt16?, range: DayRange) -> [Int] {
        // The closures read a local: capturing `self` copied the whole state (a retain and a
        // release of each of its tables) for the sort.
        let incidents = self.incidents
        return disputed.map { Int($0) }
            .filter { (sector == nil || incidents[$0].sector == sector) && range.contains(incidents[$0].day) }
            .sorted {
                let (a, b) = (incidents[$0], incidents[$1])
                if a.occurredAt != b.occurredAt { return a.occurredAt > b.occurredAt }
                return EntityKey.precedes(a.key, b.key)
            }
    }

    /// The members of a sector and the mission totals that sort before "freshness"
    /// (casualties, election), in key order; `disputed` are the listed disputed incidents,
    /// rendered, `disputedCount` all of them.
    static func writeHead(_ b: Bucket, disputed: [[UInt8]], disputedCount: Int, itemNames: [String], to w: inout JSONWriter) {
        w.key("casualties")
        w.raw("{\"disputed\":[")
        for entry in disputed.prefix(Self.disputedListLimit) {
            w.element()
            w.raw(entry)
        }
        w.raw("],\"disputed_count\":")
        w.integer(disputedCount)
        w.raw(",\"groups\":")
        Self.writeCasualtyGroups(b.casualties, to: &w)
        w.raw(",\"total\":{\"killed\":")
        var sums = SIMD3<Int64>()
        for g in 0..<5 { sums &+= SIMD3(b.casualties[g * 3], b.casualties[g * 3 + 1], b.casualties[g * 3 + 2]) }
        w.integer(sums[0])
        w.raw(",\"missing\":")
        w.integer(sums[2])
        w.raw(",\"wounded\":")
        w.integer(sums[1])
        w.raw("}}")

        w.key("election")
        w.raw("{\"consignments\":{\"delivered\":")
        w.integer(b.consignments[1])
        w.raw(",\"dispatched\":")
        w.integer(b.consignments[0])
        w.raw(",\"outstanding\":")
        w.integer(b.consignments[2])
        w.raw("},\"items_delivered\":")
        let delivered = writeItems(b.itemsDelivered, itemNames, to: &w)
        w.raw(",\"items_dispatched\":")
        let dispatched = writeItems(b.itemsDispatched, itemNames, to: &w)
        if delivered.items > 0 || dispatched.items > 0 {
            w.raw(",\"items_unlisted\":{\"delivered\":{\"count\":")
            w.integer(delivered.count)
            w.raw(",\"items\":")
            w.integer(delivered.items)
            w.raw("},\"dispatched\":{\"count\":")
            w.integer(dispatched.count)
            w.raw(",\"items\":")
            w.integer(dispatched.items)
            w.raw("}}")
        }
        w.raw(",\"personnel_moved\":{\"movements\":")
        w.integer(b.personnel[1])
        w.raw(",\"people\":")
        w.integer(b.personnel[0])
        w.raw("}}")
    }

    /// The members that sort after "freshness" (incidents, intel, medevac, polling_stations).
    static func writeTail(_ b: Bucket, to w: inout JSONWriter) {
        w.key("incidents")
        w.raw("{\"by_category\":{")
        for (code, name) in sortedByName(Vocabulary.incidentCategories) {
            w.key(name)
            w.raw("{\"open\":")
            w.integer(b.incidentsOpen[code])
            w.raw(",\"total\":")
            w.integer(b.incidentsTotal[code])
            w.raw(UInt8(ascii: "}"))
        }
        let total = b.incidentsTotal.wrappedSum()
        let open = b.incidentsOpen.wrappedSum()
        w.raw("},\"closed\":")
        w.integer(total &- open)
        w.raw(",\"open\":")
        w.integer(open)
        w.raw(",\"total\":")
        w.integer(total)
        w.raw(UInt8(ascii: "}"))

        w.key("intel")
        w.raw("{\"sightings\":{")
        for (code, name) in sortedByName(Vocabulary.sightingKinds) {
            w.key(name)
            w.integer(b.sightings[code])
        }
        w.raw("},\"total\":")
        w.integer(b.sightings.wrappedSum())
        w.raw(UInt8(ascii: "}"))

        w.key("medevac")
        w.raw("{\"completed\":")
        w.integer(b.medevacs[2])
        w.raw(",\"dispatched\":")
        w.integer(b.medevacs[1])
        w.raw(",\"open\":")
        w.integer(b.medevacs[3])
        w.raw(",\"request_to_dispatch_minutes\":")
        Self.writeDelays(b.dispatchDelays, to: &w)
        w.raw(",\"requested\":")
        w.integer(b.medevacs[0])
        w.raw(UInt8(ascii: "}"))

        w.key("polling_stations")
        w.raw(UInt8(ascii: "{"))
        for (code, name) in sortedByName(Vocabulary.pollingStationStatuses) {
            w.key(name)
            w.integer(b.stations[code])
        }
        w.key("total")
        w.integer(b.stations.wrappedSum())
        w.raw(UInt8(ascii: "}"))
    }

    /// `{"figure":"gao:7","incident_id":"…","reports":[{"counts":…,"event":…,"hlc":…,"origin":…}],"sector":"east"}`.
    func writeDisputed(_ i: Int, to w: inout JSONWriter) {
        let r = incidents[i]
        let (figure, _) = casualtyFigure(r.casualties)
        w.raw("{\"figure\":")
        if let figure { w.string(eventID(history[Int(figure.node)].ref)) } else { w.raw("null") }
        w.raw(",\"incident_id\":")
        r.key.write(to: &w)
        w.raw(",\"reports\":")
        writeCasualtyReports(r.casualties, to: &w)
        w.raw(",\"sector\":")
        w.string(sectorName(r.sector))
        w.raw(UInt8(ascii: "}"))
    }

    /// Each origin's standing report, by origin name.
    func writeCasualtyReports(_ reports: [CasualtyReport], to w: inout JSONWriter) {
        let (originRank, history) = (self.originRank, self.history)  // not `self`: see disputedIncidents
        let sorted = reports.sorted {
            originRank[Int(history[Int($0.node)].ref.origin)] < originRank[Int(history[Int($1.node)].ref.origin)]
        }
        w.raw(UInt8(ascii: "["))
        for report in sorted {
            let ref = history[Int(report.node)].ref
            w.element()
            w.raw("{\"counts\":")
            Self.writeCasualtyGroups(SIMD16<Int64>(truncatingIfNeeded: report.counts), to: &w)
            w.raw(",\"event\":")
            w.string(eventID(ref))
            w.raw(",\"hlc\":")
            w.hlc(ref.wall, ref.counter)
            w.raw(",\"origin\":")
            w.string(origins[Int(ref.origin)].name)
            w.raw(UInt8(ascii: "}"))
        }
        w.raw(UInt8(ascii: "]"))
    }

    /// `{"armed_groups":{"killed":…,"missing":…,"wounded":…},…}` over the five groups.
    static func writeCasualtyGroups(_ c: SIMD16<Int64>, to w: inout JSONWriter) {
        w.raw(UInt8(ascii: "{"))
        for (g, name) in sortedByName(Vocabulary.casualtyGroups) {
            w.key(name)
            w.raw("{\"killed\":")
            w.integer(c[g * 3])
            w.raw(",\"missing\":")
            w.integer(c[g * 3 + 2])
            w.raw(",\"wounded\":")
            w.integer(c[g * 3 + 1])
            w.raw(UInt8(ascii: "}"))
        }
        w.raw(UInt8(ascii: "}"))
    }

    /// How many item names a view lists per map: item names are free-form, so a view lists the
    /// ones with the largest counts and sums up the others, whatever events name.
    public static let itemListLimit = 50

    /// `{"ballot_boxes":40,…}`: the `itemListLimit` items with the largest counts (ties by name),
    /// listed by name. Returns how many other items there are and their total count.
    static func writeItems(_ items: [UInt16: Int64], _ itemNames: [String], to w: inout JSONWriter) -> (items: Int, count: Int64) {
        w.raw(UInt8(ascii: "{"))
        var named = items.filter { $0.value != 0 }.map { (name: itemNames[Int($0.key)], count: $0.value) }
        var unlisted: (items: Int, count: Int64) = (0, 0)
        if named.count > Self.itemListLimit {
            named.sort { $0.count != $1.count ? $0.count > $1.count : $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
            for item in named[Self.itemListLimit...] {
                unlisted.items += 1
                unlisted.count &+= item.count
            }
            named.removeLast(named.count - Self.itemListLimit)
        }
        for item in named.sorted(by: { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }) {
            w.key(item.name)
            w.integer(item.count)
        }
        w.raw(UInt8(ascii: "}"))
        return unlisted
    }

    /// `{"count":n,"max":…,"median":…,"p90":…}` in minutes; percentiles by the nearest-rank method
    /// (the smallest delay with at least p% of delays at or below it); null without delays.
    static func writeDelays(_ delays: [Int64], to w: inout JSONWriter) {
        let n = delays.count
        // By nearest rank: the value at rank ⌈p·n/100⌉ (at least 1) of the delays in increasing order.
        let positions = [100, 50, 90].map { percent in max((percent * n + 99) / 100, 1) - 1 }
        let values = n > 0 ? orderStatistics(delays, at: positions) : []
        w.raw("{\"count\":")
        w.integer(n)
        for (k, key) in [StaticString("max"), "median", "p90"].enumerated() {
            w.key(key)
            if n > 0 { w.minutes(millis: values[k]) } else { w.raw("null") }
        }
        w.raw(UInt8(ascii: "}"))
    }

    /// The values at `positions` (0-based) of `values` in increasing order, as sorting them would
    /// give. An array already in order (a sector's running total keeps its delays sorted) is read
    /// directly; any other (a range's days put together) is partly ordered by selection, in
    /// linear time expected, not sorted: a year of delays at a million events took three quarters
    /// of a range overview to sort.
    static func orderStatistics(_ values: [Int64], at positions: [Int]) -> [Int64] {
        if zip(values, values.dropFirst()).allSatisfy({ $0 <= $1 }) { return positions.map { values[$0] } }
        var a = values
        return a.withUnsafeMutableBufferPointer { a in
            positions.map { k in
                select(k, in: a)
                return a[k]
            }
        }
    }

    /// Moves the value of rank `k` (0-based) to `a[k]`, smaller or equal ones before it, greater
    /// or equal ones after (Hoare's selection with a median-of-three pivot). After 64 rounds, or
    /// on a short range, the range left is sorted instead, so no input takes more than
    /// O(n log n).
    static func select(_ k: Int, in a: UnsafeMutableBufferPointer<Int64>) {
        var lo = 0
        var hi = a.count - 1
        var rounds = 0
        while lo < hi {
            rounds += 1
            if rounds > 64 || hi - lo < 16 {
                var rest = UnsafeMutableBufferPointer(rebasing: a[lo...hi])
                rest.sort()
                return
            }
            let (x, y, z) = (a[lo], a[lo + (hi - lo) / 2], a[hi])
            let pivot = max(min(x, y), min(max(x, y), z))
            var i = lo
            var j = hi
            while i <= j {
                while a[i] < pivot { i += 1 }
                while a[j] > pivot { j -= 1 }
                if i <= j {
                    a.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            // a[lo...j] ≤ pivot, a[i...hi] ≥ pivot, and anything between equals it.
            if k <= j {
                hi = j
            } else if k >= i {
                lo = i
            } else {
                return
            }
        }
    }
}

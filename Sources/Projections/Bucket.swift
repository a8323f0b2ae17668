/// Where a count lands: a sector and a UTC day (days since 1970-01-01).
struct BucketKey: Hashable, Sendable {
    var sector: UInt16
    var day: Int32
}

/// The counts of one sector on one day. Every view is a sum of buckets, and every bucket is a
/// sum of contributions (one per entity, or one per event for per-event counts), so it is the
/// same whatever order the contributions were added and removed in. Integer lanes use wrapping
/// arithmetic: adding then removing a contribution always restores the bucket exactly, even for
/// absurd figures, and nothing can trap.
struct Bucket: Sendable, Equatable {
    /// Per incident category code.
    var incidentsTotal = SIMD16<Int64>()
    var incidentsOpen = SIMD16<Int64>()
    /// Lane `group * 3 + kind`.
    var casualties = SIMD16<Int64>()
    /// requested, dispatched, completed, open.
    var medevacs = SIMD4<Int64>()
    /// dispatched, delivered, outstanding, (unused).
    var consignments = SIMD4<Int64>()
    /// people, movements.
    var personnel = SIMD2<Int64>()
    /// Per polling-station status code.
    var stations = SIMD8<Int64>()
    /// Per sighting kind code.
    var sightings = SIMD4<Int64>()
    /// Request→dispatch delays in milliseconds, one per medevac that has both.
    var dispatchDelays: [Int64] = []
    /// Item name index → count; zero entries are removed so that a bucket does not remember
    /// what came and went.
    var itemsDispatched: [UInt16: Int64] = [:]
    var itemsDelivered: [UInt16: Int64] = [:]

    /// All zero, as a new bucket is: the fold drops a bucket that a removal empties. Lane by
    /// lane rather than `== Bucket()`, which compared all 60 lanes and the three collections
    /// field by field on every removal (a twentieth of the fold's time).
    var isEmpty: Bool {
        let wide = incidentsTotal | incidentsOpen | casualties
        let narrow = medevacs | consignments | SIMD4(personnel[0], personnel[1], 0, 0)
        guard wide == .zero, narrow == .zero, stations == .zero, sightings == .zero else { return false }
        return dispatchDelays.isEmpty && itemsDispatched.isEmpty && itemsDelivered.isEmpty
    }

    mutating func merge(_ o: Bucket) {
        incidentsTotal &+= o.incidentsTotal
        incidentsOpen &+= o.incidentsOpen
        casualties &+= o.casualties
        medevacs &+= o.medevacs
        consignments &+= o.consignments
        personnel &+= o.personnel
        stations &+= o.stations
        sightings &+= o.sightings
        dispatchDelays.append(contentsOf: o.dispatchDelays)
        for (k, v) in o.itemsDispatched { Self.add(&itemsDispatched, k, v) }
        for (k, v) in o.itemsDelivered { Self.add(&itemsDelivered, k, v) }
    }

    static func add(_ items: inout [UInt16: Int64], _ key: UInt16, _ delta: Int64) {
        let v = (items[key] ?? 0) &+ delta
        items[key] = v == 0 ? nil : v
    }

    mutating func add(_ c: IncidentContribution, sign: Int64) {
        let lane = Int(c.category)
        incidentsTotal[lane] &+= sign
        if c.open { incidentsOpen[lane] &+= sign }
        casualties &+= SIMD16<Int64>(truncatingIfNeeded: c.casualties) &* sign
    }

    mutating func add(_ c: MedevacContribution, sign: Int64) {
        medevacs &+= c.lanes &* sign
        if c.delay >= 0 {
            if sign > 0 {
                dispatchDelays.append(c.delay)
            } else if let i = dispatchDelays.firstIndex(of: c.delay) {
                dispatchDelays.swapAt(i, dispatchDelays.count - 1)
                dispatchDelays.removeLast()
            }
        }
    }

    mutating func add(_ c: ConsignmentContribution, sign: Int64) {
        consignments &+= c.lanes &* sign
        for item in c.items {
            Self.add(&itemsDispatched, item.item, item.count &* sign)
            if c.lanes[1] != 0 { Self.add(&itemsDelivered, item.item, item.count &* sign) }
        }
    }
}

/// An incident's part of the counts: nil when it counts nowhere (not reported yet, or retracted).
struct IncidentContribution: Equatable {
    var sector: UInt16
    var day: Int32
    var category: UInt8
    var open: Bool
    /// The incident's figure: the latest report overall.
    var casualties: SIMD16<Int32>
    /// The latest reports of two origins differ.
    var disputed: Bool
}

struct MedevacContribution: Equatable {
    var sector: UInt16
    var day: Int32
    /// requested, dispatched, completed, open (0 or 1 each).
    var lanes: SIMD4<Int64>
    /// Request→dispatch in ms, or -1 without both.
    var delay: Int64
}

struct ConsignmentContribution: Equatable {
    var sector: UInt16
    var day: Int32
    /// dispatched, delivered, outstanding.
    var lanes: SIMD4<Int64>
    /// Items of the dispatch (counted as delivered too when delivered).
    var items: [ItemCount]
}

struct StationContribution: Equatable {
    var sector: UInt16
    var day: Int32
    var status: UInt8
}

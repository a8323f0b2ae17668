import IncidentModel
import Synchronization

// The answers that queries read without the fold's lock.
//
// After each batch it folds, the fold publishes a `PublishedViews`: an immutable value holding
// what the sector views and the overview over all days are made of. The node keeps the newest
// one behind a pointer swap (a lock held only to copy a reference), so a query never waits for a
// batch being folded, the fold never waits for a query, and a query sees the state after a whole
// batch, never part of one.
//
// What is published, and what a batch makes anew:
// - per configured sector a `SectorAnswer`: its counts over all days (`Bucket`, copied from the
//   running total the fold keeps per sector beside the day buckets, `sectorTotals`), its first
//   `disputedListLimit` disputed incidents rendered with their list order, how many there are,
//   and the view's body, split where "freshness" goes (rendered by the first query that needs
//   it). A batch makes new answers only for the sectors it touched
//   (`ProjectionState.touchedSectors`: a bucket changed, or an incident counted there was
//   folded); the others are shared with the previous publication.
// - the freshness member (`{"gao":{"hlc":…,"recorded_at":…,"seq":…},…}`) and each origin's
//   newest `recorded_at` for the query-time ages: every event changes them, they are small.
// - the item names, which the overview's mission totals need to list items by name.
// - the overview: rendered from the sector answers by the first query that asks for it after a
//   publication, then kept with it; each sector's view likewise, and each sector's body (the
//   part of its view the overview repeats), so that a publication no query reads renders
//   nothing. The query-time ages (`as_of` to the millisecond) are kept for the last millisecond
//   asked for: the queries of one millisecond share them. The mission totals are the sum of the
//   sectors' totals and the first disputed incidents of all sectors together are among each
//   sector's first ones.
//
// A sector view is then a copy of a few kilobytes, whatever the size of the log. A publication
// costs, for each touched sector, a pass over its disputed incidents and the sort of its medevac
// delays (one or two out of place); the first query after it renders what it asks for (the
// delays in order, so writing the percentiles is linear). The same
// `SectorAnswer` renders the views of `ProjectionState.sectorView` and `overview` for any range,
// so the published bytes are those views' bytes by construction.
//
// Not published (taken from the state itself under the fold's lock, the rest done after it is
// released): views with `since` or `until` (`RangeView` below: the buckets of the range are
// copied under the lock, added up after it), the incident view and the incidents list (their
// reads of the log come after the lock: ProjectionState+IncidentList.swift). A copy-on-write copy of the whole state per
// batch would make the fold's next change copy each table it touches (the entity tables are flat
// arrays of megabytes at a million events), so the fold would pay per batch what the queries save.

/// A sector view or the overview over a range of days, as the fold's state had it when it was
/// taken (`ProjectionState.sectorViewParts`, `overviewParts`): each sector's buckets in the range
/// and its disputed incidents, rendered. `render` adds the buckets up and writes the view, after
/// the fold's lock is released: a year of a sector's days at a million events is thousands of
/// buckets and their medevac delays to sort, milliseconds a fold would otherwise wait for. The
/// buckets are copies (their counts inline, their arrays and maps shared until the fold next
/// changes them), so the view is the state of one moment.
public struct RangeView: Sendable {
    struct Part: Sendable {
        var name: String
        /// Summed in any order: every bucket is a sum of contributions (Bucket.swift).
        var buckets: [Bucket]
        var disputed: [SectorAnswer.Disputed]
        var disputedCount: Int

        func answer(itemNames: [String]) -> SectorAnswer {
            var total = buckets.first ?? Bucket()
            for b in buckets.dropFirst() { total.merge(b) }
            return SectorAnswer(name: name, total: total, disputed: disputed, disputedCount: disputedCount, itemNames: itemNames)
        }
    }

    let parts: [Part]
    let isOverview: Bool
    let freshness: [UInt8]
    let itemNames: [String]
    let range: DayRange

    /// The view's bytes. `beforeSum` is called first (a test holds the view there to see that the
    /// fold goes on meanwhile).
    public func render(beforeSum: () -> Void = {}) -> [UInt8] {
        beforeSum()
        let answers = parts.map { $0.answer(itemNames: itemNames) }
        if isOverview { return SectorAnswer.overview(answers, freshness: freshness, itemNames: itemNames, range: range) }
        return answers[0].sectorView(freshness: freshness, range: range)
    }
}

/// One configured sector's part of the views over a range of days.
final class SectorAnswer: Sendable {
    /// A disputed incident as the views list it, with its place in the list (newest
    /// `occurred_at` first, then by id).
    struct Disputed: Sendable {
        var occurredAt: Int64
        var key: EntityKey
        var bytes: [UInt8]

        static func before(_ a: Disputed, _ b: Disputed) -> Bool {
            a.occurredAt != b.occurredAt ? a.occurredAt > b.occurredAt : EntityKey.precedes(a.key, b.key)
        }
    }

    let name: String
    /// The sector's counts over the range (the mission totals add them up).
    let total: Bucket
    /// The first `disputedListLimit` disputed incidents in list order.
    let disputed: [Disputed]
    let disputedCount: Int
    let itemNames: [String]
    /// `body` and `split`, rendered by the first use: a publication no query reads (appends
    /// with nobody asking) renders nothing.
    private let rendered = Mutex<(body: [UInt8], split: Int)?>(nil)

    init(name: String, total: Bucket, disputed: [Disputed], disputedCount: Int, itemNames: [String]) {
        self.name = name
        self.total = total
        self.disputed = disputed
        self.disputedCount = disputedCount
        self.itemNames = itemNames
    }

    /// `{"casualties":…,"election":…` then `,"incidents":…,"polling_stations":…`: the members a
    /// sector view and the overview's entry share, open, without "freshness"; and where
    /// "freshness" goes in it. Two first uses may both render it: the same bytes.
    var bodyAndSplit: (body: [UInt8], split: Int) {
        if let done = rendered.withLock({ $0 }) { return done }
        var w = JSONWriter(reservingCapacity: 4096)
        w.raw(UInt8(ascii: "{"))
        ProjectionState.writeHead(total, disputed: disputed.map(\.bytes), disputedCount: disputedCount, itemNames: itemNames, to: &w)
        let split = w.bytes.count
        ProjectionState.writeTail(total, to: &w)
        let done = (body: w.bytes, split: split)
        rendered.withLock { $0 = done }
        return done
    }

    /// Whether `bodyAndSplit` was rendered.
    var isRendered: Bool { rendered.withLock { $0 != nil } }

    /// The sector view: the body with `freshness` in its place, the range and the name.
    func sectorView(freshness: [UInt8], range: DayRange) -> [UInt8] {
        let (body, split) = bodyAndSplit
        var w = JSONWriter(reservingCapacity: body.count + freshness.count + 96)
        w.raw(body[..<split])
        w.raw(",\"freshness\":")
        w.raw(freshness)
        w.raw(body[split...])
        w.key("range")
        range.write(to: &w)
        w.key("sector")
        w.string(name)
        w.raw(UInt8(ascii: "}"))
        return w.bytes
    }

    /// The overview of `sectors` (the listed ones, in order): the mission totals of them all,
    /// then each sector's entry.
    static func overview(_ sectors: [SectorAnswer], freshness: [UInt8], itemNames: [String], range: DayRange) -> [UInt8] {
        var mission = Bucket()
        var disputed: [Disputed] = []
        var disputedCount = 0
        for s in sectors {
            mission.merge(s.total)
            disputed += s.disputed
            disputedCount += s.disputedCount
        }
        disputed.sort(by: Disputed.before)
        var w = JSONWriter(reservingCapacity: 16384)
        w.raw(UInt8(ascii: "{"))
        w.key("freshness")
        w.raw(freshness)
        w.key("mission")
        w.raw(UInt8(ascii: "{"))
        ProjectionState.writeHead(
            mission, disputed: disputed.prefix(ProjectionState.disputedListLimit).map(\.bytes), disputedCount: disputedCount, itemNames: itemNames,
            to: &w)
        ProjectionState.writeTail(mission, to: &w)
        w.raw(UInt8(ascii: "}"))
        w.key("range")
        range.write(to: &w)
        w.key("sectors")
        w.raw(UInt8(ascii: "["))
        for s in sectors {
            w.element()
            w.raw(s.bodyAndSplit.body)
            w.key("sector")
            w.string(s.name)
            w.raw(UInt8(ascii: "}"))
        }
        w.raw(UInt8(ascii: "]"))
        w.raw(UInt8(ascii: "}"))
        return w.bytes
    }
}

/// An origin and the `recorded_at` of its newest event held (nil when unreadable), for the
/// query-time freshness ages.
struct OriginClock: Sendable {
    var origin: String
    var recordedMillis: Int64?

    static func ages(_ clocks: [OriginClock], nowMillis: Int64) -> [(origin: String, seconds: Int64)] {
        clocks.map { c in (c.origin, max(0, nowMillis - (c.recordedMillis ?? nowMillis)) / 1000) }
    }

    static func writeAges(_ clocks: [OriginClock], nowMillis: Int64) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"ages\":{")
        for (name, age) in ages(clocks, nowMillis: nowMillis) {
            w.key(name)
            w.integer(age)
        }
        w.raw("},\"as_of\":\"")
        RFC3339.append(millis: nowMillis, to: &w.bytes)
        w.raw("\"}")
        return w.bytes
    }
}

/// The sector views and the overview over all days as they stand after a whole batch (see the
/// top of this file). Immutable but for its rendered views (the overview and each sector's,
/// rendered once on first use) and the ages of the last millisecond queried.
public final class PublishedViews: Sendable {
    /// Events folded when this was published (`ProjectionState.eventCount`).
    public let eventCount: UInt64
    /// Where the publisher stood, as it counts (the node: the log offset of the next event to fold).
    public let position: UInt64
    let sectors: [SectorAnswer]
    let freshness: [UInt8]
    let clocks: [OriginClock]
    let itemNames: [String]
    private let overviewBytes = Mutex<[UInt8]?>(nil)
    /// Each sector's view, rendered by the first query that asks for it (as the overview).
    private let sectorBytes: Mutex<[[UInt8]?]>
    /// The freshness ages of the last millisecond asked for: queries within one millisecond
    /// share them.
    private let lastAges = Mutex<(millis: Int64, bytes: [UInt8])>((.min, []))

    init(eventCount: UInt64, position: UInt64, sectors: [SectorAnswer], freshness: [UInt8], clocks: [OriginClock], itemNames: [String]) {
        self.eventCount = eventCount
        self.position = position
        self.sectors = sectors
        self.freshness = freshness
        self.clocks = clocks
        self.itemNames = itemNames
        self.sectorBytes = Mutex(Array(repeating: nil, count: sectors.count))
    }

    /// The configured sectors, in order.
    public var listedSectors: [String] { sectors.map(\.name) }

    /// `ProjectionState.sectorView(name)` as of the publication; nil when not configured.
    public func sectorView(_ name: String) -> [UInt8]? {
        guard let i = sectors.firstIndex(where: { $0.name == name }) else { return nil }
        if let bytes = sectorBytes.withLock({ $0[i] }) { return bytes }
        // Two first queries may both render it, as the overview.
        let bytes = sectors[i].sectorView(freshness: freshness, range: .all)
        sectorBytes.withLock { $0[i] = bytes }
        return bytes
    }

    /// `ProjectionState.overview()` as of the publication.
    public func overview() -> [UInt8] {
        if let bytes = overviewBytes.withLock({ $0 }) { return bytes }
        // Two first queries may both render it: the same bytes, and neither waits for the other.
        let bytes = SectorAnswer.overview(sectors, freshness: freshness, itemNames: itemNames, range: .all)
        overviewBytes.withLock { $0 = bytes }
        return bytes
    }

    /// `ProjectionState.freshnessAges(nowMillis:)` as of the publication.
    public func freshnessAges(nowMillis: Int64) -> [UInt8] {
        if let bytes = lastAges.withLock({ $0.millis == nowMillis ? $0.bytes : nil }) { return bytes }
        let bytes = OriginClock.writeAges(clocks, nowMillis: nowMillis)
        lastAges.withLock { $0 = (nowMillis, bytes) }
        return bytes
    }

    /// `ProjectionState.freshnessAgeSeconds(nowMillis:)` as of the publication.
    public func freshnessAgeSeconds(nowMillis: Int64) -> [(origin: String, seconds: Int64)] { OriginClock.ages(clocks, nowMillis: nowMillis) }
}

extension ProjectionState {
    /// The views over all days as they stand, with new answers only for the sectors touched since
    /// `previous` was published from this state (all of them without one), and clears the
    /// touched marks. `position` is kept with them for the publisher.
    public mutating func publish(after previous: PublishedViews?, position: UInt64 = 0) -> PublishedViews {
        var answers: [SectorAnswer] = []
        answers.reserveCapacity(sectors.count)
        for (n, name) in sectors.enumerated() {
            let slot = sectorNames.firstIndex(of: name)
            let touched = slot.map { $0 < touchedSectors.count && touchedSectors[$0] } ?? false
            if let previous, previous.sectors.count == sectors.count, !touched {
                answers.append(previous.sectors[n])
            } else {
                // Kept in order here, the delays sort in linear time when the view is written
                // (a change moves one or two of them).
                if let slot, slot < sectorTotals.count { sectorTotals[slot].dispatchDelays.sort() }
                answers.append(sectorAnswer(name, range: .all)!)
            }
        }
        touchedSectors.removeAll(keepingCapacity: true)
        return PublishedViews(eventCount: eventCount, position: position, sectors: answers, freshness: freshness(), clocks: originClocks, itemNames: itemNames)
    }

    /// Marks a sector's published answer out of date (see `publish(after:)`).
    @inline(__always) mutating func touch(sector: UInt16) {
        let s = Int(sector)
        if s >= touchedSectors.count { touchedSectors += repeatElement(false, count: s + 1 - touchedSectors.count) }
        touchedSectors[s] = true
    }
}

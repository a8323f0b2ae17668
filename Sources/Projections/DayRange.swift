import IncidentModel

// Time ranges (`since`, `until`) of the sector, overview and incidents queries.
//
// Ranges are answered from the per-day buckets of the fold, so they are whole UTC days:
// - `since` and `until` are each a date (`2026-11-29`) or an RFC 3339 UTC time
//   (`2026-11-29T14:30:00Z`); a time stands for the UTC day that contains it.
// - Both ends are inclusive: `since 2026-11-29 until 2026-11-30` is those two whole days, and
//   `since 2026-11-29T14:30:00Z` includes all of 29 November. Either end may be absent.
// - Views echo the days they used: `"range":{"since":"2026-11-29","until":null}`.
//
// Which day a count falls on:
// - incidents by category (total, open, closed) and casualties (the incident's figure, and the
//   disputed list): the incident's `occurred_at` day — its current value, so an update that
//   moves occurred_at moves the incident and its casualties with it;
// - medevacs (requested, dispatched, completed, open, request→dispatch minutes): the day of the
//   request's `recorded_at` (a medevac is counted whole on that day, whenever it was dispatched);
//   without a request held, the day of the earliest event naming it;
// - consignments (dispatched, delivered, outstanding, items): the day of the dispatch's
//   `recorded_at`; without a dispatch held, the day of the earliest event naming it;
// - personnel moved, intel sightings: each event's `recorded_at` day;
// - polling stations by status: the `recorded_at` day of each station's current status event;
// - freshness (per origin) is never ranged.
// The incidents list applies the same rule as the incident counts: the `occurred_at` day.

/// An inclusive range of UTC days; nil ends are open.
public struct DayRange: Sendable, Equatable {
    /// Days since 1970-01-01.
    public var sinceDay: Int?
    public var untilDay: Int?

    /// Every day.
    public static let all = DayRange()

    public init(sinceDay: Int? = nil, untilDay: Int? = nil) {
        self.sinceDay = sinceDay
        self.untilDay = untilDay
    }

    /// Parses the ends as given by a client (`--since`, `--until`).
    public init(since: String?, until: String?) throws(ProjectionQueryError) {
        self.sinceDay = try since.map { s throws(ProjectionQueryError) in try Self.day(of: s, name: "since") }
        self.untilDay = try until.map { s throws(ProjectionQueryError) in try Self.day(of: s, name: "until") }
        if let a = sinceDay, let b = untilDay, a > b {
            throw ProjectionQueryError(.invalidRange, "since (\(since ?? "")) is after until (\(until ?? ""))")
        }
    }

    /// The UTC day of a date `YYYY-MM-DD` or an RFC 3339 UTC time.
    public static func day(of text: String, name: String = "time") throws(ProjectionQueryError) -> Int {
        let millis = text.utf8.count == 10 ? RFC3339.parseMillis(text + "T00:00:00Z") : RFC3339.parseMillis(text)
        guard let millis else {
            throw ProjectionQueryError(
                .invalidTime, "\(name): expected a date like 2026-11-29 or a UTC time like 2026-11-29T04:00:00Z, got \"\(text)\"")
        }
        return RFC3339.dayNumber(millis: millis)
    }

    @inline(__always) func contains(_ day: Int32) -> Bool {
        if let s = sinceDay, Int(day) < s { return false }
        if let u = untilDay, Int(day) > u { return false }
        return true
    }

    /// `{"since":"2026-11-29"|null,"until":…}`.
    func write(to w: inout JSONWriter) {
        w.raw("{\"since\":")
        Self.writeDay(sinceDay, to: &w)
        w.raw(",\"until\":")
        Self.writeDay(untilDay, to: &w)
        w.raw(UInt8(ascii: "}"))
    }

    static func writeDay(_ day: Int?, to w: inout JSONWriter) {
        guard let day else {
            w.raw("null")
            return
        }
        w.raw(UInt8(ascii: "\""))
        var out: [UInt8] = []
        RFC3339.append(millis: Int64(day) * 86_400_000, to: &out)
        w.raw(out.prefix(10))
        w.raw(UInt8(ascii: "\""))
    }
}

/// RFC 3339 UTC timestamps (`2026-11-29T04:00:00.123Z`), formatted and parsed without Foundation:
/// they are on every event and on the hot path of the projections.
public enum RFC3339 {
    /// Milliseconds since the Unix epoch for a strict RFC 3339 UTC string (`Z` suffix, optional
    /// fraction of any length), or nil.
    public static func parseMillis(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { parseMillis(utf8: $0) }
    }

    public static func parseMillis(utf8 s: UnsafeBufferPointer<UInt8>) -> Int64? {
        // YYYY-MM-DDTHH:MM:SS
        guard s.count >= 20 else { return nil }
        func digits(_ from: Int, _ count: Int) -> Int? {
            var v = 0
            for i in from..<(from + count) {
                let c = s[i]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            return v
        }
        guard let year = digits(0, 4), s[4] == UInt8(ascii: "-"), let month = digits(5, 2), s[7] == UInt8(ascii: "-"),
            let day = digits(8, 2), s[10] == UInt8(ascii: "T"), let hour = digits(11, 2), s[13] == UInt8(ascii: ":"),
            let minute = digits(14, 2), s[16] == UInt8(ascii: ":"), let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60,
            second <= 60
        else { return nil }
        var i = 19
        var millis = 0
        if s[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < s.count, s[i] >= 0x30 && s[i] <= 0x39 {
                if i - start < 3 { millis = millis * 10 + Int(s[i] - 0x30) }
                i += 1
            }
            guard i > start else { return nil }
            for _ in min(i - start, 3)..<3 { millis *= 10 }
        }
        guard i == s.count - 1, s[i] == UInt8(ascii: "Z") else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return Int64(days) * 86_400_000 + Int64(hour * 3_600_000 + minute * 60_000 + min(second, 59) * 1000 + millis)
    }

    /// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    public static func format(millis: Int64) -> String {
        var out: [UInt8] = []
        append(millis: millis, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public static func append(millis: Int64, to out: inout [UInt8]) {
        let days = Int(millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000)
        let rem = Int(millis - Int64(days) * 86_400_000)
        let (y, m, d) = civilFromDays(days)
        // The last `width` digits of each field, most significant first, into 24 bytes on the
        // stack, then appended at once: this runs for every event stored (its recorded_at) and
        // every view's as_of, where an append per digit costs more than the date's arithmetic.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { buffer in
            let p = buffer.baseAddress!
            var at = 0
            func put(_ v: Int, _ width: Int) {
                var v = v
                for k in stride(from: width - 1, through: 0, by: -1) {
                    p[at + k] = UInt8(0x30 + v % 10)
                    v /= 10
                }
                at += width
            }
            func mark(_ c: UInt8) {
                p[at] = c
                at += 1
            }
            put(y, 4); mark(UInt8(ascii: "-")); put(m, 2); mark(UInt8(ascii: "-")); put(d, 2)
            mark(UInt8(ascii: "T"))
            put(rem / 3_600_000, 2); mark(UInt8(ascii: ":"))
            put(rem / 60_000 % 60, 2); mark(UInt8(ascii: ":"))
            put(rem / 1000 % 60, 2); mark(UInt8(ascii: "."))
            put(rem % 1000, 3); mark(UInt8(ascii: "Z"))
            out.append(contentsOf: UnsafeBufferPointer(start: p, count: at))
        }
    }

    /// The day number (days since 1970-01-01) of a timestamp in milliseconds.
    public static func dayNumber(millis: Int64) -> Int {
        Int(millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's civil calendar algorithms.
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public static func civilFromDays(_ z: Int) -> (year: Int, month: Int, day: Int) {
        let z = z + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}

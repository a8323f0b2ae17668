import Foundation
import IncidentModel
import Testing

@Suite struct RFC3339Tests {
    @Test(arguments: [
        "2024-02-29T12:34:56.789Z", "2000-02-29T00:00:00.000Z", "2026-11-29T04:00:00.123Z", "1970-01-01T00:00:00.000Z",
        "1969-12-31T23:59:59.999Z", "2025-12-31T23:59:59.999Z", "2400-02-29T23:59:59.000Z", "9999-12-31T23:59:59.999Z",
    ])
    func formattedTimeParsesBackToTheSameMillis(text: String) throws {
        let millis = try #require(RFC3339.parseMillis(text))
        #expect(RFC3339.format(millis: millis) == text)
    }

    @Test func leapDayIsTheDayAfterFebruary28AndBeforeMarch1() throws {
        let feb28 = try #require(RFC3339.parseMillis("2024-02-28T00:00:00Z"))
        let feb29 = try #require(RFC3339.parseMillis("2024-02-29T00:00:00Z"))
        let mar1 = try #require(RFC3339.parseMillis("2024-03-01T00:00:00Z"))
        #expect(feb29 - feb28 == 86_400_000)
        #expect(mar1 - feb29 == 86_400_000)
        #expect(RFC3339.format(millis: feb29 + 86_400_000 - 1) == "2024-02-29T23:59:59.999Z")
        #expect(RFC3339.parseMillis("2024-02-29T00:00:00Z") == 1_709_164_800_000)
    }

    @Test(arguments: ["2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2024-02-30T00:00:00Z"])
    func februaryTwentyNinthOutsideLeapYearsIsRefused(text: String) {
        #expect(RFC3339.parseMillis(text) == nil)
    }

    @Test func formatAgreesWithFoundationsGregorianCalendar() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
        var rng = SplitMix64(seed: 3339)
        for _ in 0..<2_000 {
            // 1970 … 9999: Foundation's calendar switches to Julian before 1582.
            let millis = Int64.random(in: 0...253_402_300_799_999, using: &rng)
            let date = Date(timeIntervalSince1970: TimeInterval(millis / 1000))
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            let expected = String(
                format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!,
                Int(millis % 1000))
            let formatted = RFC3339.format(millis: millis)
            guard formatted == expected, RFC3339.parseMillis(formatted) == millis else {
                Issue.record("\(millis): formatted \(formatted), Foundation \(expected), parsed back \(String(describing: RFC3339.parseMillis(formatted)))")
                return
            }
        }
    }

    @Test(arguments: [
        "2026-11-29T04:00:00+00:00", "2026-11-29T05:00:00+01:00", "2026-11-28T23:00:00-05:00", "2026-11-29T04:00:00",
        "2026-11-29T04:00:00.123", "2026-11-29T04:00:00 UTC", "2026-11-29T04:00:00GMT",
    ])
    func timeWithoutTheUTCDesignatorIsRefused(text: String) {
        #expect(RFC3339.parseMillis(text) == nil)
    }

    @Test(arguments: [
        "", "2026-11-29", "2026-11-29 04:00:00Z", "2026-11-29T04:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
        "2026-04-31T00:00:00Z", "2026-11-00T00:00:00Z", "2026-11-29T24:00:00Z", "2026-11-29T04:60:00Z",
        "2026-11-29T04:00:61Z", "2026-11-29T04:00:00.Z", "2026-11-29T04:00:00.12aZ", "26-11-29T04:00:00Z",
        "2026-1-29T04:00:00Z", "2026/11/29T04:00:00Z", "2026-11-29T04:00:00ZZ", "2026-11-29T4:00:00Z",
        "+2026-11-29T04:00:00Z", " 2026-11-29T04:00:00Z", "2026-11-29T04:00:00Z ",
    ])
    func malformedTimeIsRefused(text: String) {
        #expect(RFC3339.parseMillis(text) == nil)
    }

    @Test func fractionOfAnyLengthIsReadToTheMillisecond() throws {
        let whole = try #require(RFC3339.parseMillis("2026-11-29T04:00:00Z"))
        #expect(RFC3339.parseMillis("2026-11-29T04:00:00.5Z") == whole + 500)
        #expect(RFC3339.parseMillis("2026-11-29T04:00:00.05Z") == whole + 50)
        #expect(RFC3339.parseMillis("2026-11-29T04:00:00.123456789Z") == whole + 123)
        #expect(whole == 1_795_924_800_000)
    }
}

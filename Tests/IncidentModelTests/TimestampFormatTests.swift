import Foundation
import IncidentModel
import Testing

/// `RFC3339.append(millis:to:)` writes what every stored event's `recorded_at` holds: the UTC
/// time with milliseconds, 24 bytes, as Foundation's formatter writes it and as `parseMillis`
/// reads it back.
@Suite struct TimestampFormatTests {
    @Test func formattedTimesAreFoundationsAndReadBack() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var rng = SplitMix64(seed: 0x7173)
        // 1970 to 2100, and the edges of days, months and leap years.
        var samples: [Int64] = [0, 86_399_999, 86_400_000, 951_782_400_000, 951_868_799_999, 4_102_444_799_999]
        for _ in 0..<3000 { samples.append(Int64(rng.next() % 4_102_444_800_000)) }
        for millis in samples {
            var out: [UInt8] = Array("x".utf8)
            RFC3339.append(millis: millis, to: &out)
            let text = String(decoding: out.dropFirst(), as: UTF8.self)
            #expect(out.count == 25 && out[0] == UInt8(ascii: "x"))
            #expect(text == formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000)), "\(millis)")
            #expect(RFC3339.parseMillis(text) == millis)
        }
    }
}

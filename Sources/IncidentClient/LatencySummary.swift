package import Histogram

#if canImport(Glibc)
import Glibc
#endif

/// Percentiles of one set of request latencies, from an HdrHistogram of nanoseconds (three
/// significant digits, up to 60 s), as the benchmarks report them.
public struct LatencySummary: Sendable, Equatable {
    /// How many latencies were recorded.
    public var count: UInt64
    public var p50Millis: Double
    public var p99Millis: Double
    public var p999Millis: Double
    public var maxMillis: Double

    public static let empty = LatencySummary(count: 0, p50Millis: 0, p99Millis: 0, p999Millis: 0, maxMillis: 0)

    public init(count: UInt64, p50Millis: Double, p99Millis: Double, p999Millis: Double, maxMillis: Double) {
        self.count = count
        self.p50Millis = p50Millis
        self.p99Millis = p99Millis
        self.p999Millis = p999Millis
        self.maxMillis = maxMillis
    }

    package init(_ histogram: LatencyHistogram) {
        let h = histogram.histogram
        guard h.totalCount > 0 else {
            self = .empty
            return
        }
        func ms(_ nanos: UInt64) -> Double { Double(nanos) / 1e6 }
        self.init(
            count: h.totalCount, p50Millis: ms(h.valueAtPercentile(50)), p99Millis: ms(h.valueAtPercentile(99)),
            p999Millis: ms(h.valueAtPercentile(99.9)), maxMillis: ms(h.max))
    }
}

/// Request latencies in nanoseconds; values beyond 60 s are clamped to 60 s.
package struct LatencyHistogram: Sendable {
    package static let highest: UInt64 = 60_000_000_000
    package var histogram = Histogram<UInt64>(highestTrackableValue: LatencyHistogram.highest, numberOfSignificantValueDigits: .three)

    package init() {}

    package mutating func record(nanos: UInt64) {
        _ = histogram.record(min(nanos, Self.highest))
    }

    package mutating func add(_ other: LatencyHistogram) {
        histogram.add(other.histogram)
    }

    package var summary: LatencySummary { LatencySummary(self) }
}

/// CLOCK_MONOTONIC nanoseconds.
package enum MonotonicClock {
    package static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

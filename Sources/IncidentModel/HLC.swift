/// A hybrid logical clock stamp: wall-clock milliseconds and a counter that orders stamps
/// within one millisecond (or while the wall clock stands still or goes back).
///
/// Encoded as the string `"<wall_ms>-<counter>"` (e.g. `"1764388800000-0"`): a string, because
/// jq and JavaScript read JSON numbers as doubles and a packed 64-bit value would lose bits.
public struct HLCTimestamp: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var wallMillis: UInt64
    public var counter: UInt32

    public init(wallMillis: UInt64, counter: UInt32) {
        self.wallMillis = wallMillis
        self.counter = counter
    }

    public static let zero = HLCTimestamp(wallMillis: 0, counter: 0)

    public static func < (a: HLCTimestamp, b: HLCTimestamp) -> Bool {
        (a.wallMillis, a.counter) < (b.wallMillis, b.counter)
    }

    public var description: String { "\(wallMillis)-\(counter)" }

    public init?(_ text: some StringProtocol) {
        self.init(utf8: Array(text.utf8))
    }

    /// Parses `<digits>-<digits>` without leading zeros (other than a lone "0").
    public init?(utf8 bytes: some Collection<UInt8>) {
        let parsed =
            bytes.withContiguousStorageIfAvailable { Self(utf8: $0) }
            ?? Array(bytes).withUnsafeBufferPointer { Self(utf8: $0) }
        guard let stamp = parsed else { return nil }
        self = stamp
    }

    /// The same parse over bytes in memory. Not generic, so that a caller in another file calls
    /// it specialized in a build compiled file by file (the debug build): every event's stamp is
    /// parsed on a log's open, and the generic form, called unspecialized there, took a third of
    /// a debug node's start.
    public init?(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        guard let dash = bytes.firstIndex(of: UInt8(ascii: "-")) else { return nil }
        guard let wall = Self.parseDecimal(UnsafeBufferPointer(rebasing: bytes[..<dash]), max: UInt64(Int64.max)),
            let counter = Self.parseDecimal(UnsafeBufferPointer(rebasing: bytes[(dash + 1)...]), max: UInt64(UInt32.max))
        else { return nil }
        self.wallMillis = wall
        self.counter = UInt32(counter)
    }

    static func parseDecimal(_ digits: UnsafeBufferPointer<UInt8>, max: UInt64) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 20 else { return nil }
        if digits.count > 1 && digits[0] == UInt8(ascii: "0") { return nil }
        var v: UInt64 = 0
        for c in digits {
            guard c >= 0x30 && c <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
            guard !o1, !o2 else { return nil }
            v = s
        }
        return v <= max ? v : nil
    }
}

/// The clock itself: `now` never returns a stamp lower than or equal to any stamp it has returned
/// or observed. Persistence across restarts comes from the log: the store seeds the clock with the
/// highest stamp it holds (see `observe`), so a node whose wall clock jumped back still moves on.
public struct HybridLogicalClock: Sendable {
    public private(set) var last: HLCTimestamp
    private let wallClock: @Sendable () -> UInt64

    /// - Parameter wallClock: milliseconds since the Unix epoch; injected for tests.
    public init(last: HLCTimestamp = .zero, wallClock: @escaping @Sendable () -> UInt64 = HybridLogicalClock.systemMillis) {
        self.last = last
        self.wallClock = wallClock
    }

    /// A new stamp for a local event.
    public mutating func now() -> HLCTimestamp {
        now(wall: wallClock())
    }

    /// A new stamp for a local event, from a reading `wall` of the wall clock taken by the
    /// caller: the writer reads the clock once for a whole commit.
    public mutating func now(wall: UInt64) -> HLCTimestamp {
        if wall > last.wallMillis {
            last = HLCTimestamp(wallMillis: wall, counter: 0)
        } else if last.counter == UInt32.max {
            last = HLCTimestamp(wallMillis: last.wallMillis + 1, counter: 0)
        } else {
            last = HLCTimestamp(wallMillis: last.wallMillis, counter: last.counter + 1)
        }
        return last
    }

    /// Takes in a stamp seen elsewhere (a stored or received event) so later local stamps follow it.
    public mutating func observe(_ stamp: HLCTimestamp) {
        if stamp > last { last = stamp }
    }

    public static let systemMillis: @Sendable () -> UInt64 = {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

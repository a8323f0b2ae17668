@preconcurrency public import Crypto

/// A SHA-256 digest of an event's canonical bytes, kept as four words so that indexes and chain
/// checks compare and store it cheaply. On the wire and on disk it is 64 lowercase hex digits.
public struct EventHash: Hashable, Sendable, CustomStringConvertible {
    public var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    public init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    /// Builds a hash from 32 raw bytes.
    public init(rawBytes: some Sequence<UInt8>) {
        var w: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var i = 0
        for b in rawBytes where i < 32 {
            switch i / 8 {
            case 0: w.0 = w.0 << 8 | UInt64(b)
            case 1: w.1 = w.1 << 8 | UInt64(b)
            case 2: w.2 = w.2 << 8 | UInt64(b)
            default: w.3 = w.3 << 8 | UInt64(b)
            }
            i += 1
        }
        (w0, w1, w2, w3) = w
    }

    public init(_ digest: SHA256.Digest) {
        // The digest's bytes without an intermediate array (this runs for every event hashed).
        var w: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        digest.withUnsafeBytes { raw in
            func word(_ at: Int) -> UInt64 {
                var v: UInt64 = 0
                for k in 0..<8 { v = v << 8 | UInt64(raw[at + k]) }
                return v
            }
            w = (word(0), word(8), word(16), word(24))
        }
        (w0, w1, w2, w3) = w
    }

    /// The 32 raw bytes, big-endian word order (the digest's own byte order).
    public var rawBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for w in [w0, w1, w2, w3] {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: w >> UInt64(shift))) }
        }
        return out
    }

    /// Appends the 64 hex digits to `out` in one append: every line written holds one or two
    /// hashes, and a look-up and an append per digit cost a few percent of a bulk import.
    public func appendHex(to out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
            let p = buffer.baseAddress!
            Self.writeHex(w0, to: p)
            Self.writeHex(w1, to: p + 16)
            Self.writeHex(w2, to: p + 32)
            Self.writeHex(w3, to: p + 48)
            out.append(contentsOf: UnsafeBufferPointer(start: p, count: 64))
        }
    }

    /// The 16 lowercase hex digits of `w` at `p`, without a branch: a nibble n is '0' + n, plus
    /// 0x27 (to 'a' - 10 + n) when 9 - n wraps below zero (its top bit then set).
    @inline(__always)
    static func writeHex(_ w: UInt64, to p: UnsafeMutablePointer<UInt8>) {
        for i in 0..<16 {
            let n = UInt8(truncatingIfNeeded: w >> UInt64(60 - 4 * i)) & 0xF
            p[i] = n &+ 0x30 &+ ((9 &- n) >> 7) &* 0x27
        }
    }

    public var hex: String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        appendHex(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String { hex }

    /// Parses exactly 64 lowercase hex digits.
    public init?(hex: some Collection<UInt8>) {
        guard hex.count == 64 else { return nil }
        let parsed: EventHash?? = hex.withContiguousStorageIfAvailable { Self.parseHex($0) }
        if let parsed {
            guard let parsed else { return nil }
            self = parsed
        } else {
            guard let h = Array(hex).withUnsafeBufferPointer({ Self.parseHex($0) }) else { return nil }
            self = h
        }
    }

    static func parseHex(_ hex: UnsafeBufferPointer<UInt8>) -> EventHash? {
        guard hex.count == 64, let base = hex.baseAddress else { return nil }
        // Branch-free: hex digits of a hash are random, so a branch per digit (digit or letter?)
        // is mispredicted a third of the time; this was the costliest step of parsing an event.
        // '0'...'9' = 0x30...0x39 and 'a'...'f' = 0x61...0x66: the low nibble, plus 9 for letters
        // (bit 6 set). `bad` collects any byte that is neither (upper case included).
        var bad: UInt8 = 0
        func word(_ start: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in start..<(start + 16) {
                let c = base[i]
                let notDigit: UInt8 = c &- 0x30 < 10 ? 0 : 1
                let notLetter: UInt8 = c &- 0x61 < 6 ? 0 : 1
                bad |= notDigit & notLetter
                v = v << 4 | UInt64((c & 0x0F) &+ 9 &* (c >> 6))
            }
            return v
        }
        let a = word(0)
        let b = word(16)
        let c = word(32)
        let d = word(48)
        guard bad == 0 else { return nil }
        return EventHash(w0: a, w1: b, w2: c, w3: d)
    }

    public init?(hex: String) {
        self.init(hex: Array(hex.utf8))
    }
}

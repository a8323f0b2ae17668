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
        var words: [UInt64] = [0, 0, 0, 0]
        for (i, b) in rawBytes.enumerated() where i < 32 {
            words[i / 8] = words[i / 8] << 8 | UInt64(b)
        }
        (w0, w1, w2, w3) = (words[0], words[1], words[2], words[3])
    }

    public init(_ digest: SHA256.Digest) {
        self.init(rawBytes: digest)
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

    /// Appends the 64 hex digits to `out`.
    public func appendHex(to out: inout [UInt8]) {
        for w in [w0, w1, w2, w3] {
            for shift in stride(from: 60, through: 0, by: -4) {
                out.append(Self.hexDigits[Int((w >> UInt64(shift)) & 0xF)])
            }
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
        var words: [UInt64] = [0, 0, 0, 0]
        for (i, c) in hex.enumerated() {
            let d: UInt64
            switch c {
            case 0x30...0x39: d = UInt64(c - 0x30)
            case 0x61...0x66: d = UInt64(c - 0x61 + 10)
            default: return nil
            }
            words[i / 16] = words[i / 16] << 4 | d
        }
        (w0, w1, w2, w3) = (words[0], words[1], words[2], words[3])
    }

    public init?(hex: String) {
        self.init(hex: Array(hex.utf8))
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}

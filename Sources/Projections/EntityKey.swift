import IncidentModel

/// The id of an entity (incident, medevac, consignment, polling station) as a dictionary key.
///
/// Ids are chosen by writers and are UUIDs by default (incidentctl), so a canonical lowercase
/// UUID is kept as its 128 bits: no heap string per entity, and hashing two words is cheaper
/// than hashing 36 bytes. Any other id is kept as its string. The mapping is a function of the
/// id's text, so every node keys the same id the same way, and `text` gives back the exact bytes.
enum EntityKey: Hashable, Sendable {
    case uuid(UInt64, UInt64)
    case text(String)

    /// The key of an id whose UTF-8 bytes are `bytes` (already unescaped).
    init(utf8 bytes: UnsafeBufferPointer<UInt8>) {
        if let (hi, lo) = Self.parseUUID(bytes) {
            self = .uuid(hi, lo)
        } else {
            self = .text(String(decoding: bytes, as: UTF8.self))
        }
    }

    init(_ string: String) {
        var s = string
        self = s.withUTF8 { EntityKey(utf8: $0) }
    }

    /// The id exactly as written.
    var text: String {
        switch self {
        case .text(let s): return s
        case .uuid:
            var out: [UInt8] = []
            appendText(to: &out)
            return String(decoding: out, as: UTF8.self)
        }
    }

    func appendText(to out: inout [UInt8]) {
        switch self {
        case .text(let s): out.append(contentsOf: s.utf8)
        case .uuid(let hi, let lo):
            // 8-4-4-4-12 hex digits.
            for i in 0..<32 {
                if i == 8 || i == 12 || i == 16 || i == 20 { out.append(UInt8(ascii: "-")) }
                let word = i < 16 ? hi : lo
                let shift = UInt64(60 - 4 * (i % 16))
                out.append(Self.hexDigits[Int((word >> shift) & 0xF)])
            }
        }
    }

    /// Writes the id as a JSON string.
    func write(to w: inout JSONWriter) {
        switch self {
        case .text(let s): w.string(s)
        case .uuid:
            w.raw(UInt8(ascii: "\""))
            appendText(to: &w.bytes)
            w.raw(UInt8(ascii: "\""))
        }
    }

    /// Order by the id's UTF-8 bytes. For two canonical UUIDs that is the order of their bits.
    static func precedes(_ a: EntityKey, _ b: EntityKey) -> Bool {
        if case .uuid(let ah, let al) = a, case .uuid(let bh, let bl) = b { return (ah, al) < (bh, bl) }
        var x: [UInt8] = []
        var y: [UInt8] = []
        a.appendText(to: &x)
        b.appendText(to: &y)
        return x.lexicographicallyPrecedes(y)
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The 128 bits of a canonical lowercase UUID (`8-4-4-4-12` hex digits), or nil.
    static func parseUUID(_ b: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        guard b.count == 36, b[8] == UInt8(ascii: "-"), b[13] == UInt8(ascii: "-"), b[18] == UInt8(ascii: "-"),
            b[23] == UInt8(ascii: "-")
        else { return nil }
        // Lowercase hex digits map to 0…15; anything else sets bit 4 and fails the check below.
        @inline(__always) func digit(_ c: UInt8) -> UInt64 {
            let d = c &- 0x30
            if d < 10 { return UInt64(d) }
            let h = c &- 0x61
            return h < 6 ? UInt64(h + 10) : 0x10
        }
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        var bad: UInt64 = 0
        var n = 0
        for i in 0..<36 where i != 8 && i != 13 && i != 18 && i != 23 {
            let d = digit(b[i])
            bad |= d
            if n < 16 { hi = hi << 4 | (d & 0xF) } else { lo = lo << 4 | (d & 0xF) }
            n += 1
        }
        return bad & 0x10 == 0 ? (hi, lo) : nil
    }
}

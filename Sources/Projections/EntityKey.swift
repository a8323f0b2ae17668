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

    /// The 128 bits of a canonical lowercase UUID (`8-4-4-4-12` hex digits), or nil. Every
    /// event names one or two ids, so the 32 digits are read eight at a time.
    static func parseUUID(_ b: UnsafeBufferPointer<UInt8>) -> (UInt64, UInt64)? {
        guard b.count == 36, b[8] == UInt8(ascii: "-"), b[13] == UInt8(ascii: "-"), b[18] == UInt8(ascii: "-"),
            b[23] == UInt8(ascii: "-")
        else { return nil }
        let p = UnsafeRawPointer(b.baseAddress!)
        @inline(__always) func word(_ at: Int) -> UInt64 { UInt64(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        @inline(__always) func half(_ at: Int) -> UInt64 { UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
        guard let a = hex8(word(0)), let c = hex8(half(9) | half(14) << 32), let d = hex8(half(19) | half(24) << 32),
            let e = hex8(word(28))
        else { return nil }
        return (a << 32 | c, d << 32 | e)
    }

    /// The value of eight lowercase hex digits (the first in the lowest byte), or nil when any
    /// byte is not one.
    @inline(__always) static func hex8(_ w: UInt64) -> UInt64? {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high = ones &* 0x80
        guard w & high == 0 else { return nil }
        // Per byte (all below 0x80, so no carry crosses bytes): the high bit of `w + (0x80 - k)`
        // is set when the byte is at least k.
        let atLeast0 = w &+ ones &* (0x80 - 0x30)
        let atLeastColon = w &+ ones &* (0x80 - 0x3A)
        let atLeastA = w &+ ones &* (0x80 - 0x61)
        let atLeastG = w &+ ones &* (0x80 - 0x67)
        let valid = ((atLeast0 & ~atLeastColon) | (atLeastA & ~atLeastG)) & high
        guard valid == high else { return nil }
        // '0'…'9' → 0…9, 'a'…'f' → 10…15, then the nibbles packed, first digit highest.
        var v = (w & (ones &* 0x0F)) &+ ((w >> 6) & ones) &* 9
        v = v.byteSwapped
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF
        v = (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF
        return v
    }
}

/// Appends JSON to a byte buffer: the one writer behind event lines, wire messages and
/// canonical payloads.
///
/// Canonical form (what an origin hashes): no whitespace, object members sorted by the UTF-8
/// bytes of their keys, strings with the minimal escapes (`\"`, `\\`, `\b \f \n \r \t`, other
/// control characters as `\u00XX`, everything else as UTF-8), numbers exactly as written.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8]

    public init(reservingCapacity capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    @inline(__always) public mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    @inline(__always) public mutating func raw(_ b: UInt8) { bytes.append(b) }

    public mutating func raw(_ other: some Sequence<UInt8>) { bytes.append(contentsOf: other) }

    public mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var runStart = 0
            for i in 0..<utf8.count {
                let b = utf8[i]
                guard b < 0x20 || b == 0x22 || b == 0x5C else { continue }
                if runStart < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i])) }
                runStart = i + 1
                switch b {
                case 0x22: raw("\\\"")
                case 0x5C: raw("\\\\")
                case 0x08: raw("\\b")
                case 0x0C: raw("\\f")
                case 0x0A: raw("\\n")
                case 0x0D: raw("\\r")
                case 0x09: raw("\\t")
                default:
                    raw("\\u00")
                    bytes.append(Self.hexDigits[Int(b >> 4)])
                    bytes.append(Self.hexDigits[Int(b & 0xF)])
                }
            }
            if runStart < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func integer<T: BinaryInteger>(_ v: T) {
        if v == 0 { bytes.append(UInt8(ascii: "0")); return }
        var n = Int64(v)
        if n < 0 {
            bytes.append(UInt8(ascii: "-"))
            if n == Int64.min { raw("9223372036854775808"); return }
            n = -n
        }
        // The digits from the last, into 20 bytes on the stack, then appended at once: every
        // stored event has three integers (seq twice, its clock), and an append per digit
        // costs more than the division.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            let p = buffer.baseAddress!
            var at = 20
            while n > 0 {
                at -= 1
                p[at] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: n % 10)
                n /= 10
            }
            bytes.append(contentsOf: UnsafeBufferPointer(start: p + at, count: 20 - at))
        }
    }

    public mutating func bool(_ b: Bool) { b ? raw("true") : raw("false") }

    /// An object of string members, keys sorted: `{"gao":"…","hq":"…"}` (a trust list).
    public mutating func object(strings members: [String: String]) {
        raw("{")
        for (i, (key, value)) in members.sorted(by: { $0.key < $1.key }).enumerated() {
            if i > 0 { raw(UInt8(ascii: ",")) }
            string(key)
            raw(UInt8(ascii: ":"))
            string(value)
        }
        raw("}")
    }

    /// Writes a value in canonical form (members sorted by key bytes).
    public mutating func canonical(_ value: JSONValue) {
        switch value {
        case .null: raw("null")
        case .bool(let b): bool(b)
        case .number(let literal): raw(Array(literal.utf8))
        case .string(let s): string(s)
        case .array(let elements):
            raw(UInt8(ascii: "["))
            for (i, e) in elements.enumerated() {
                if i > 0 { raw(UInt8(ascii: ",")) }
                canonical(e)
            }
            raw(UInt8(ascii: "]"))
        case .object(let members):
            raw(UInt8(ascii: "{"))
            let sorted = members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            for (i, m) in sorted.enumerated() {
                if i > 0 { raw(UInt8(ascii: ",")) }
                string(m.key)
                raw(UInt8(ascii: ":"))
                canonical(m.value)
            }
            raw(UInt8(ascii: "}"))
        }
    }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}

extension JSONValue {
    /// The canonical encoding of this value (see ``JSONWriter``).
    public var canonicalBytes: [UInt8] {
        var w = JSONWriter()
        w.canonical(self)
        return w.bytes
    }
}

/// A strict RFC 8259 JSON parser over UTF-8 bytes.
///
/// Foundation's decoders run at ~100k events/s on this project's machines, too slow for the hot
/// paths (append, sync ingest, rebuild); this parser is checked against `JSONSerialization` by
/// property tests. Strict means: no trailing commas, no comments, no leading zeros, no control
/// characters inside strings, no lone surrogates, duplicate object keys refused, depth and
/// members per object limited.
///
/// Every check is linear in the input: the parser runs on untrusted lines (a client's before it
/// authenticated, a peer's hello), so no input may cost more than a pass or two over its bytes.
public struct JSONParser {
    public struct Error: Swift.Error, Equatable, CustomStringConvertible, Sendable {
        /// What kind of refusal: the node answers the two limits with their own error codes
        /// (`too_deep`, `too_many_members`), everything else as `invalid_json`.
        public enum Kind: Sendable, Equatable {
            /// The bytes are not (strict) JSON: syntax, encoding, a duplicate key, data after the value.
            case syntax
            /// Nesting deeper than `maximumDepth`.
            case tooDeep
            /// An object with more than `maximumMembers` members.
            case tooManyMembers
        }

        public var offset: Int
        public var reason: String
        public var kind: Kind
        public init(offset: Int, reason: String, kind: Kind = .syntax) {
            self.offset = offset
            self.reason = reason
            self.kind = kind
        }
        public var description: String { "invalid JSON at byte \(offset): \(reason)" }
    }

    /// Nesting deeper than this is refused, so hostile input cannot exhaust the stack. The deepest
    /// legitimate message (an append of an event whose payload holds objects in objects) is
    /// under 10 levels.
    public static let maximumDepth = 64

    /// An object with more members than this is refused. The largest legitimate objects are an
    /// event payload (tens of members) and a version vector (one member per node of the
    /// mission, tens to hundreds); 10,000 is far above both and keeps what one object can make
    /// the node build (members, their key set) small.
    public static let maximumMembers = 10_000

    /// Up to this many members, a new key is compared with each earlier one (cheaper than
    /// hashing for the small objects that are nearly all objects); past it, keys go into a set,
    /// so that duplicate detection stays linear however many members an object has.
    static let linearKeySearchLimit = 16

    static func tooDeep(at offset: Int) -> Error {
        Error(offset: offset, reason: "nesting too deep", kind: .tooDeep)
    }

    static func tooManyMembers(at offset: Int) -> Error {
        Error(offset: offset, reason: "more than \(maximumMembers) members in an object", kind: .tooManyMembers)
    }

    /// Parses one complete JSON value; only whitespace may follow it.
    public static func parse(_ bytes: some Collection<UInt8>) throws(Error) -> JSONValue {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer throws(Error) in
            var cursor = Cursor(bytes: buffer, index: 0)
            cursor.skipWhitespace()
            let value = try cursor.parseValue(depth: 0)
            cursor.skipWhitespace()
            guard cursor.index == buffer.count else { throw cursor.error("unexpected data after the value") }
            return value
        }
    }

    /// Parses a buffer without copying it.
    public static func parse(buffer: UnsafeBufferPointer<UInt8>) throws(Error) -> JSONValue {
        var cursor = Cursor(bytes: buffer, index: 0)
        cursor.skipWhitespace()
        let value = try cursor.parseValue(depth: 0)
        cursor.skipWhitespace()
        guard cursor.index == buffer.count else { throw cursor.error("unexpected data after the value") }
        return value
    }

    /// Returns the end index of the JSON value that starts at `start` (after whitespace), checking
    /// its structure without building it. Used by the envelope scanner to find `data`.
    public static func skipValue(in buffer: UnsafeBufferPointer<UInt8>, from start: Int) throws(Error) -> Int {
        var cursor = Cursor(bytes: buffer, index: start)
        cursor.skipWhitespace()
        try cursor.skipValue(depth: 0)
        return cursor.index
    }

    struct Cursor {
        let bytes: UnsafeBufferPointer<UInt8>
        var index: Int

        func error(_ reason: String) -> Error { Error(offset: index, reason: reason) }

        @inline(__always) mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        @inline(__always) mutating func expect(_ literal: StaticString) throws(Error) {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw error("unexpected end of input") }
            let p = literal.utf8Start
            for i in 0..<count where bytes[index + i] != p[i] { throw error("invalid literal") }
            index += count
        }

        mutating func parseValue(depth: Int) throws(Error) -> JSONValue {
            guard index < bytes.count else { throw error("unexpected end of input") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = index
                try scanNumber()
                return .number(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
            default:
                throw error("unexpected character")
            }
        }

        mutating func parseObject(depth: Int) throws(Error) -> JSONValue {
            guard depth <= JSONParser.maximumDepth else { throw JSONParser.tooDeep(at: index) }
            index += 1
            var members: [(key: String, value: JSONValue)] = []
            // Filled once the object passes `linearKeySearchLimit` members. String equality (and
            // hashing) is Unicode canonical equivalence, the same as the linear search's `==`,
            // so both refuse exactly the same duplicates.
            var keys = Set<String>()
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
                let keyOffset = index
                guard members.count < JSONParser.maximumMembers else { throw JSONParser.tooManyMembers(at: keyOffset) }
                let key = try parseString()
                if members.count < JSONParser.linearKeySearchLimit {
                    for member in members where member.key == key {
                        throw Error(offset: keyOffset, reason: "duplicate key \"\(key)\"")
                    }
                } else {
                    if keys.isEmpty { keys.reserveCapacity(64); for member in members { keys.insert(member.key) } }
                    guard keys.insert(key).inserted else {
                        throw Error(offset: keyOffset, reason: "duplicate key \"\(key)\"")
                    }
                }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                index += 1
                skipWhitespace()
                let value = try parseValue(depth: depth)
                members.append((key, value))
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                throw error("expected ',' or '}'")
            }
        }

        mutating func parseArray(depth: Int) throws(Error) -> JSONValue {
            guard depth <= JSONParser.maximumDepth else { throw JSONParser.tooDeep(at: index) }
            index += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try parseValue(depth: depth))
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
                throw error("expected ',' or ']'")
            }
        }

        mutating func scanNumber() throws(Error) {
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
            } else if bytes[index] >= UInt8(ascii: "1") && bytes[index] <= UInt8(ascii: "9") {
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            } else {
                throw error("invalid number")
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                    index += 1
                }
                guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
        }

        @inline(__always) func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

        /// Parses a string starting at its opening quote. The fast path copies runs of plain bytes.
        mutating func parseString() throws(Error) -> String {
            index += 1
            let start = index
            // Fast path: no escapes.
            while index < bytes.count {
                let b = bytes[index]
                if b == UInt8(ascii: "\"") {
                    let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                    index += 1
                    return try validatedUTF8(slice, at: start)
                }
                if b == UInt8(ascii: "\\") { break }
                if b < 0x20 { throw error("control character in string") }
                index += 1
            }
            guard index < bytes.count else { throw error("unterminated string") }
            var out: [UInt8] = Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))
            while index < bytes.count {
                let b = bytes[index]
                if b == UInt8(ascii: "\"") {
                    index += 1
                    return try out.withUnsafeBufferPointer { buffer throws(Error) in try validatedUTF8(buffer, at: start) }
                }
                if b < 0x20 { throw error("control character in string") }
                if b != UInt8(ascii: "\\") {
                    out.append(b)
                    index += 1
                    continue
                }
                index += 1
                guard index < bytes.count else { throw error("unterminated string") }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    let scalar = try escapedScalar()
                    guard let u = Unicode.Scalar(scalar) else { throw error("invalid escape") }
                    out.append(contentsOf: UTF8.encode(u)!)
                default:
                    throw error("invalid escape")
                }
            }
            throw error("unterminated string")
        }

        /// After `\u`: the escaped scalar's value, a surrogate pair read whole (both `\u`
        /// escapes); a lone surrogate is refused.
        mutating func escapedScalar() throws(Error) -> UInt32 {
            let scalar = try hex4()
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                else { throw error("lone surrogate") }
                index += 2
                let low = try hex4()
                guard low >= 0xDC00 && low <= 0xDFFF else { throw error("lone surrogate") }
                return 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard scalar < 0xDC00 || scalar > 0xDFFF else { throw error("lone surrogate") }
            return scalar
        }

        mutating func hex4() throws(Error) -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("invalid \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let b = bytes[index]
                let d: UInt32
                switch b {
                case 0x30...0x39: d = UInt32(b - 0x30)
                case 0x41...0x46: d = UInt32(b - 0x41 + 10)
                case 0x61...0x66: d = UInt32(b - 0x61 + 10)
                default: throw error("invalid \\u escape")
                }
                v = v << 4 | d
                index += 1
            }
            return v
        }

        func validatedUTF8(_ slice: UnsafeBufferPointer<UInt8>, at offset: Int) throws(Error) -> String {
            // Plain ASCII is by far the common case and needs no validation.
            var ascii = true
            for b in slice where b >= 0x80 { ascii = false; break }
            if ascii { return String(decoding: slice, as: UTF8.self) }
            guard let s = String(validating: slice, as: UTF8.self) else {
                throw Error(offset: offset, reason: "invalid UTF-8 in string")
            }
            return s
        }

        /// Walks a value without building it; same strictness and limits as parsing, except that
        /// duplicate keys are not looked for (the caller hashes the bytes as written).
        mutating func skipValue(depth: Int) throws(Error) {
            guard index < bytes.count else { throw error("unexpected end of input") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                guard depth < JSONParser.maximumDepth else { throw JSONParser.tooDeep(at: index) }
                index += 1
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return }
                var count = 0
                while true {
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
                    guard count < JSONParser.maximumMembers else { throw JSONParser.tooManyMembers(at: index) }
                    count += 1
                    try skipString()
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                    index += 1
                    skipWhitespace()
                    try skipValue(depth: depth + 1)
                    skipWhitespace()
                    guard index < bytes.count else { throw error("unexpected end of input") }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "}") { index += 1; return }
                    throw error("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                guard depth < JSONParser.maximumDepth else { throw JSONParser.tooDeep(at: index) }
                index += 1
                skipWhitespace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return }
                while true {
                    skipWhitespace()
                    try skipValue(depth: depth + 1)
                    skipWhitespace()
                    guard index < bytes.count else { throw error("unexpected end of input") }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "]") { index += 1; return }
                    throw error("expected ',' or ']'")
                }
            case UInt8(ascii: "\""):
                try skipString()
            case UInt8(ascii: "t"): try expect("true")
            case UInt8(ascii: "f"): try expect("false")
            case UInt8(ascii: "n"): try expect("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                try scanNumber()
            default:
                throw error("unexpected character")
            }
        }

        /// How many of the eight bytes at `p` come before the first that is `"`, `\\`, below 0x20
        /// or above 0x7F: 8 when none is. A string loop takes that many bytes as they are, and
        /// looks at the next one byte by byte.
        @inline(__always) static func plainBytes(at p: UnsafePointer<UInt8>) -> Int {
            let flags = flaggedBytes(UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)))
            return flags == 0 ? 8 : flags.trailingZeroBitCount >> 3
        }

        /// The high bit of each byte of `w` (little-endian: the first byte lowest) that is `"`,
        /// `\\`, below 0x20 or above 0x7F, or that follows such a byte: (x - 0x01…) & ~x sets a
        /// byte's high bit where x has a zero byte, and a borrow can only flag bytes above a true
        /// one; (w - 0x20…) & ~w where a byte of w is below 0x20; w itself where one is above
        /// 0x7F. So the lowest flag is exact, and every byte below it is plain.
        @inline(__always) static func flaggedBytes(_ w: UInt64) -> UInt64 {
            let ones: UInt64 = 0x0101_0101_0101_0101
            let quote = w ^ (ones &* 0x22)
            let backslash = w ^ (ones &* 0x5C)
            let flagged = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((w &- ones &* 0x20) & ~w) | w
            return flagged & (ones &* 0x80)
        }

        mutating func skipString() throws(Error) {
            // The same checks as parseString (escapes, surrogate pairs, control characters,
            // UTF-8), without building the String: this runs for every string of every event
            // read from disk or a peer.
            index += 1
            while index < bytes.count {
                // Eight bytes at a time while none of them needs a look: no quote, backslash,
                // control character or non-ASCII byte (SWAR). Otherwise straight to the first
                // byte that does, which the byte steps below take.
                if index + 8 <= bytes.count {
                    let plain = Self.plainBytes(at: bytes.baseAddress! + index)
                    index += plain
                    if plain == 8 { continue }
                }
                let b = bytes[index]
                if b == UInt8(ascii: "\"") {
                    index += 1
                    return
                }
                if b < 0x20 { throw error("control character in string") }
                if b == UInt8(ascii: "\\") {
                    index += 1
                    guard index < bytes.count else { throw error("unterminated string") }
                    let e = bytes[index]
                    index += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        continue
                    case UInt8(ascii: "u"):
                        _ = try escapedScalar()
                        continue
                    default:
                        throw error("invalid escape")
                    }
                }
                if b < 0x80 {
                    index += 1
                    continue
                }
                try skipUTF8Sequence(b)
            }
            throw error("unterminated string")
        }

        /// Checks one multi-byte UTF-8 sequence starting at `index` (lead byte `b`), as
        /// `String(validating:)` would: no overlongs, no surrogates, nothing above U+10FFFF.
        mutating func skipUTF8Sequence(_ b: UInt8) throws(Error) {
            let start = index
            func cont(_ i: Int) -> UInt8? { i < bytes.count && bytes[i] & 0xC0 == 0x80 ? bytes[i] : nil }
            switch b {
            case 0xC2...0xDF:
                guard cont(index + 1) != nil else { throw Error(offset: start, reason: "invalid UTF-8 in string") }
                index += 2
            case 0xE0...0xEF:
                guard let c1 = cont(index + 1), cont(index + 2) != nil else { throw Error(offset: start, reason: "invalid UTF-8 in string") }
                if b == 0xE0 && c1 < 0xA0 { throw Error(offset: start, reason: "invalid UTF-8 in string") }
                if b == 0xED && c1 > 0x9F { throw Error(offset: start, reason: "invalid UTF-8 in string") }
                index += 3
            case 0xF0...0xF4:
                guard let c1 = cont(index + 1), cont(index + 2) != nil, cont(index + 3) != nil else {
                    throw Error(offset: start, reason: "invalid UTF-8 in string")
                }
                if b == 0xF0 && c1 < 0x90 { throw Error(offset: start, reason: "invalid UTF-8 in string") }
                if b == 0xF4 && c1 > 0x8F { throw Error(offset: start, reason: "invalid UTF-8 in string") }
                index += 4
            default:
                throw Error(offset: start, reason: "invalid UTF-8 in string")
            }
        }
    }
}

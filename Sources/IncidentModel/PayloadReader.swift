// Reading an event's `data` in place, as canonical JSON (the form JSONWriter writes and every
// node stores, see docs/STORAGE.md): no whitespace, object members in increasing order of their
// keys' UTF-8 bytes, strings with the minimal escapes only, numbers as written.
//
// `PayloadReader` is the one walk over payload bytes: the validator (EventValidator.swift) checks
// a payload with it, for a client's append and for every event the projections fold, and the
// fold reads the values it needs from what that same walk recorded. It builds no JSON tree and
// allocates nothing for the common payload. Anything out of canonical form is reported where it
// is found (`notCanonical`); the rare forms the fast walk does not decide itself (a key with an
// escape or a non-ASCII byte, a container under a member the schema does not name) are decided
// by `JSONParser` and a canonical re-encoding, so "canonical" means exactly
// `JSONParser.parse(bytes).canonicalBytes == bytes`.
//
// The bytes are JSON whose syntax was checked before (every stored line is checked by the store
// when it writes, ingests or recovers it, `Event.parse`; a new event's `data` is JSONWriter's
// output): UTF-8 and control characters are not checked again. A client's `data` walked as it
// came (`EventValidator.canonicalPayloadEnd`) has them checked around the walk. Every access is
// bounds-checked against the `end` given, whatever the bytes.

/// A walker over canonical JSON bytes (see the top of PayloadReader.swift).
package struct PayloadReader {
    package let bytes: UnsafeBufferPointer<UInt8>

    package init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    /// A string as scanned: the index past its closing quote, whether it holds an escape (its
    /// bytes then differ from its value), and whether every byte is ASCII.
    package struct ScannedString {
        package var end: Int
        package var escaped: Bool
        package var ascii: Bool
        /// Plain ASCII without escapes: its bytes are its value and compare as the value does.
        package var simple: Bool { !escaped && ascii }
    }

    /// The failure of a walk: the offset of the first byte out of canonical form.
    package struct NotCanonical: Error {
        package var offset: Int
    }

    // MARK: Strings

    /// Scans the canonical string value whose opening quote is at `start`: only the escapes
    /// JSONWriter writes (`\"`, `\\`, `\b \f \n \r \t`, and `\u00xx` in lowercase hex for the
    /// other control characters). `ascii` is not looked at (true).
    @inline(__always)
    package func string(at start: Int, _ end: Int) throws(NotCanonical) -> ScannedString {
        guard start < end, bytes[start] == UInt8(ascii: "\"") else { throw NotCanonical(offset: start) }
        var i = start + 1
        // Ids and enumeration values are short: a plain loop ends them before a word at a time
        // would have paid off.
        let shortEnd = min(end, i + 16)
        while i < shortEnd {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { return ScannedString(end: i + 1, escaped: false, ascii: true) }
            if b == UInt8(ascii: "\\") { return try escapedString(from: i, end) }
            i += 1
        }
        // Then eight bytes at a time while none is a quote or a backslash (SWAR).
        let base = bytes.baseAddress!
        let ones: UInt64 = 0x0101_0101_0101_0101
        while i + 8 <= end {
            let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            let quote = w ^ (ones &* 0x22)
            let backslash = w ^ (ones &* 0x5C)
            // A byte's high bit is set where the byte is zero (or just after one).
            if (((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)) & (ones &* 0x80) != 0 { break }
            i += 8
        }
        while i < end {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { return ScannedString(end: i + 1, escaped: false, ascii: true) }
            if b == UInt8(ascii: "\\") { return try escapedString(from: i, end) }
            i += 1
        }
        throw NotCanonical(offset: i)
    }

    /// The rest of a string from its first backslash at `i`.
    func escapedString(from i: Int, _ end: Int) throws(NotCanonical) -> ScannedString {
        var i = i
        while i < end {
            switch bytes[i] {
            case UInt8(ascii: "\""): return ScannedString(end: i + 1, escaped: true, ascii: true)
            case UInt8(ascii: "\\"): i = try escape(at: i, end)
            default: i += 1
            }
        }
        throw NotCanonical(offset: i)
    }

    /// Scans a key as `string(at:_:)` does, and tells whether it is ASCII: keys are short, so
    /// each byte is looked at.
    @inline(__always)
    package func key(at start: Int, _ end: Int) throws(NotCanonical) -> ScannedString {
        guard start < end, bytes[start] == UInt8(ascii: "\"") else { throw NotCanonical(offset: start) }
        var i = start + 1
        var escaped = false
        var ascii = true
        while i < end {
            let b = bytes[i]
            if b == UInt8(ascii: "\"") { return ScannedString(end: i + 1, escaped: escaped, ascii: ascii) }
            if b == UInt8(ascii: "\\") {
                i = try escape(at: i, end)
                escaped = true
            } else {
                if b >= 0x80 { ascii = false }
                i += 1
            }
        }
        throw NotCanonical(offset: i)
    }

    /// The index past the canonical escape at `i` (its backslash).
    func escape(at i: Int, _ end: Int) throws(NotCanonical) -> Int {
        guard i + 1 < end else { throw NotCanonical(offset: i) }
        switch bytes[i + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"),
            UInt8(ascii: "t"):
            return i + 2
        case UInt8(ascii: "u"):
            // Only a control character without a short escape is written as \u00xx.
            guard i + 6 <= end, bytes[i + 2] == UInt8(ascii: "0"), bytes[i + 3] == UInt8(ascii: "0"),
                let high = Self.lowerHex(bytes[i + 4]), let low = Self.lowerHex(bytes[i + 5])
            else { throw NotCanonical(offset: i) }
            let scalar = high << 4 | low
            guard scalar < 0x20, ![0x08, 0x09, 0x0A, 0x0C, 0x0D].contains(scalar) else { throw NotCanonical(offset: i) }
            return i + 6
        default:
            throw NotCanonical(offset: i)
        }
    }

    static func lowerHex(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    /// The value of the string `value` (quotes included), decoded.
    package func decodedString(_ value: Range<Int>) -> String {
        (try? JSONParser.parse(buffer: UnsafeBufferPointer(rebasing: bytes[value])))?.stringValue ?? ""
    }

    /// The bytes between the quotes of the string `value`.
    @inline(__always) package func contents(_ value: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[(value.lowerBound + 1)..<(value.upperBound - 1)])
    }

    // MARK: Other values

    /// The index past the number at `start` (JSON grammar; every valid literal is canonical).
    /// An integer without sign, fraction or exponent is read here; anything else by the parser.
    @inline(__always)
    package func number(at start: Int, _ end: Int) throws(NotCanonical) -> Int {
        var i = start
        if i < end, bytes[i] >= UInt8(ascii: "1"), bytes[i] <= UInt8(ascii: "9") {
            i += 1
            while i < end, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
            if i >= end || bytes[i] == UInt8(ascii: "}") || bytes[i] == UInt8(ascii: ",") || bytes[i] == UInt8(ascii: "]") { return i }
        }
        var cursor = JSONParser.Cursor(bytes: UnsafeBufferPointer(start: bytes.baseAddress, count: end), index: start)
        guard start < end else { throw NotCanonical(offset: start) }
        do { try cursor.scanNumber() } catch { throw NotCanonical(offset: start) }
        return cursor.index
    }

    /// The index past `true` or `false` at `start`.
    package func boolean(at start: Int, _ end: Int) throws(NotCanonical) -> Int {
        var cursor = JSONParser.Cursor(bytes: UnsafeBufferPointer(start: bytes.baseAddress, count: end), index: start)
        do {
            if start < end, bytes[start] == UInt8(ascii: "t") { try cursor.expect("true") } else { try cursor.expect("false") }
        } catch { throw NotCanonical(offset: start) }
        return cursor.index
    }

    /// The index past the canonical value of any kind at `start`. Scalars are checked here;
    /// a container is checked by parsing and re-encoding it (members the schema does not name).
    package func anyValue(at start: Int, _ end: Int) throws(NotCanonical) -> Int {
        guard start < end else { throw NotCanonical(offset: start) }
        switch bytes[start] {
        case UInt8(ascii: "\""): return try string(at: start, end).end
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return try boolean(at: start, end)
        case UInt8(ascii: "n"):
            var cursor = JSONParser.Cursor(bytes: UnsafeBufferPointer(start: bytes.baseAddress, count: end), index: start)
            do { try cursor.expect("null") } catch { throw NotCanonical(offset: start) }
            return cursor.index
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let limited = UnsafeBufferPointer(start: bytes.baseAddress, count: end)
            let valueEnd: Int
            do { valueEnd = try JSONParser.skipValue(in: limited, from: start) } catch { throw NotCanonical(offset: start) }
            try checkReencoded(start..<valueEnd)
            return valueEnd
        default:
            return try number(at: start, end)
        }
    }

    /// Throws unless `range` parses and re-encodes to exactly its bytes.
    package func checkReencoded(_ range: Range<Int>) throws(NotCanonical) {
        let slice = UnsafeBufferPointer(rebasing: bytes[range])
        guard let value = try? JSONParser.parse(buffer: slice), value.canonicalBytes.elementsEqual(slice) else {
            throw NotCanonical(offset: range.lowerBound)
        }
    }

    /// The JSON kind of the value starting at `start`, for messages ("expected string, got number").
    package func kindName(at start: Int) -> String {
        guard start < bytes.count else { return "nothing" }
        switch bytes[start] {
        case UInt8(ascii: "\""): return "string"
        case UInt8(ascii: "{"): return "object"
        case UInt8(ascii: "["): return "array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "boolean"
        case UInt8(ascii: "n"): return "null"
        default: return "number"
        }
    }

    /// The integer `range` holds when it is one without fraction or exponent that fits Int64
    /// (as `JSONValue.integerValue`), else nil.
    package func integer(_ range: Range<Int>) -> Int64? {
        var i = range.lowerBound
        guard i < range.upperBound else { return nil }
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        guard i < range.upperBound else { return nil }
        // Accumulated negatively, so that Int64.min fits.
        var v: Int64 = 0
        while i < range.upperBound {
            let c = bytes[i]
            guard c >= 0x30 && c <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.subtractingReportingOverflow(Int64(c - 0x30))
            guard !o1, !o2 else { return nil }
            v = s
            i += 1
        }
        if negative { return v }
        return v == Int64.min ? nil : -v
    }

    /// Whether the number `range` lies in `lo...hi` once read as a Double (as
    /// `JSONValue.doubleValue`). The integer part decides most literals without a conversion.
    package func number(_ range: Range<Int>, isIn lo: Double, _ hi: Double) -> Bool {
        var i = range.lowerBound
        let negative = i < range.upperBound && bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        var whole: Int64 = 0
        var digits = 0
        while i < range.upperBound, bytes[i] >= 0x30, bytes[i] <= 0x39, digits < 15 {
            whole = whole * 10 + Int64(bytes[i] - 0x30)
            digits += 1
            i += 1
        }
        let exact = i == range.upperBound
        let fractionOnly = i < range.upperBound && bytes[i] == UInt8(ascii: ".") && !bytes[i..<range.upperBound].contains { $0 | 0x20 == UInt8(ascii: "e") }
        if digits > 0, exact || fractionOnly {
            // The value lies in [whole, whole + 1) (mirrored when negative), and rounding to a
            // Double cannot leave that interval's closure: both ends are exact Doubles.
            let a = Double(whole)
            let (low, high) = negative ? (-(a + (exact ? 0 : 1)), -a) : (a, a + (exact ? 0 : 1))
            if low >= lo && high <= hi { return true }
            if high < lo || low > hi { return false }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
        guard let d = Double(text) else { return false }
        return d >= lo && d <= hi
    }

    // MARK: Objects

    /// Walks the canonical object whose `{` is at `start`. For each member, `body` gets the key's
    /// range (between the quotes), whether the key is simple (plain ASCII, no escapes: then it
    /// compares bytewise as its value does), and the start of the value, and returns the end of
    /// the value. Returns the index past `}`.
    ///
    /// Checks the object's own form: no whitespace, keys strictly increasing, at most
    /// `JSONParser.maximumMembers` members. Keys that are not simple are ordered and checked for
    /// duplicates (String equality, as the parser) by re-encoding the object.
    @inline(__always)
    package func members<E: Error>(
        of start: Int, _ end: Int, notCanonical: (NotCanonical) -> E,
        _ body: (_ key: Range<Int>, _ simple: Bool, _ value: Int) throws(E) -> Int
    ) throws(E) -> Int {
        guard start < end, bytes[start] == UInt8(ascii: "{") else { throw notCanonical(NotCanonical(offset: start)) }
        var i = start + 1
        guard i < end else { throw notCanonical(NotCanonical(offset: i)) }
        if bytes[i] == UInt8(ascii: "}") { return i + 1 }
        var previous: Range<Int>? = nil
        var reencode = false
        var count = 0
        while true {
            let key: ScannedString
            do { key = try self.key(at: i, end) } catch { throw notCanonical(error) }
            let keyRange = (i + 1)..<(key.end - 1)
            count += 1
            if key.simple {
                if let previous, !precedes(previous, keyRange) { throw notCanonical(NotCanonical(offset: i)) }
                previous = keyRange
            } else {
                reencode = true
                previous = nil
            }
            guard count <= JSONParser.maximumMembers, key.end < end, bytes[key.end] == UInt8(ascii: ":") else {
                throw notCanonical(NotCanonical(offset: key.end))
            }
            i = try body(keyRange, key.simple, key.end + 1)
            guard i < end else { throw notCanonical(NotCanonical(offset: i)) }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            guard bytes[i] == UInt8(ascii: "}") else { throw notCanonical(NotCanonical(offset: i)) }
            if reencode {
                do { try checkReencoded(start..<(i + 1)) } catch { throw notCanonical(error) }
            }
            return i + 1
        }
    }

    /// Whether key `a` comes strictly before key `b` in UTF-8 byte order.
    @inline(__always) package func precedes(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        raw(a).precedes(raw(b))
    }

    /// Whether the raw bytes `r` equal `name`.
    @inline(__always) package func matches(_ r: Range<Int>, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
        raw(r).sameBytes(name)
    }
}

extension PayloadReader {
    /// The value of member `name` of the object `range` of a stored payload, or nil: for reading
    /// back a field of an event already checked, not a check itself.
    ///
    /// The walk stops at the member, or at the first plain key that sorts after `name` (members
    /// are in canonical order), and passes over values by their structure alone: a string to
    /// its closing quote, a container to its matching bracket, a scalar to the next `,`, `}` or
    /// `]`. The bytes were checked when the event was appended, received or recovered; reading
    /// them back does not check them again. Bytes that are not JSON end the walk with nil.
    package func member(_ name: StaticString, of range: Range<Int>) -> Range<Int>? {
        var walk = self.walk(of: range)
        return member(name, in: &walk)
    }

    /// A walk over the members of one stored object, for reading several of them: names looked
    /// up in increasing order go on from where the last lookup stopped, so that the object is
    /// walked once (a name not after the last one starts the walk again).
    package struct MemberWalk {
        let start: Int?
        let end: Int
        /// The next member's key, or nil at the object's end (or where its bytes stopped reading).
        var next: Int?
        var previous: StaticString?

        /// A walk that finds nothing.
        package static let empty = MemberWalk(start: nil, end: 0, next: nil)
    }

    /// A walk over the members of the object `range`.
    package func walk(of range: Range<Int>) -> MemberWalk {
        let end = min(range.upperBound, bytes.count)
        let i = range.lowerBound
        guard i < end, bytes[i] == UInt8(ascii: "{"), i + 1 < end, bytes[i + 1] != UInt8(ascii: "}") else { return .empty }
        return MemberWalk(start: i + 1, end: end, next: i + 1)
    }

    /// The value of member `name`, going on with `walk` (see `member(_:of:)`).
    package func member(_ name: StaticString, in walk: inout MemberWalk) -> Range<Int>? {
        let wanted = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        if let previous = walk.previous,
            !UnsafeBufferPointer(start: previous.utf8Start, count: previous.utf8CodeUnitCount).lexicographicallyPrecedes(wanted)
        {
            walk.next = walk.start
        }
        walk.previous = name
        let end = walk.end
        while let i = walk.next {
            guard let key = try? self.key(at: i, end), key.end < end, bytes[key.end] == UInt8(ascii: ":") else { break }
            let keyRange = (i + 1)..<(key.end - 1)
            let value = key.end + 1
            // A key with an escape or a non-ASCII byte cannot be a plain name, and its raw bytes
            // do not sort as its value: it is passed over. A plain key after the name ends the
            // lookup, and the walk stays on it.
            let found = key.simple && matches(keyRange, wanted)
            if key.simple, !found, wanted.lexicographicallyPrecedes(UnsafeBufferPointer(rebasing: bytes[keyRange])) { return nil }
            let valueEnd = storedValueEnd(at: value, end)
            walk.next = valueEnd.flatMap { e in e < end && bytes[e] == UInt8(ascii: ",") ? e + 1 : nil }
            if found { return valueEnd.map { value..<$0 } }
        }
        walk.next = nil
        return nil
    }

    /// The index past the stored (already checked) value at `start`, found by its structure
    /// alone; nil where the bytes end first or are not JSON.
    func storedValueEnd(at start: Int, _ end: Int) -> Int? {
        guard start < end else { return nil }
        switch bytes[start] {
        case UInt8(ascii: "\""):
            return try? string(at: start, end).end
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var i = start
            while i < end {
                switch bytes[i] {
                case UInt8(ascii: "\""):
                    guard let e = try? string(at: i, end).end else { return nil }
                    i = e
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return i + 1 }
                default:
                    break
                }
                i += 1
            }
            return nil
        default:
            var i = start
            while i < end, bytes[i] != UInt8(ascii: ","), bytes[i] != UInt8(ascii: "}"), bytes[i] != UInt8(ascii: "]") { i += 1 }
            return i == start ? nil : i
        }
    }

    /// The raw bytes of a value, as the origin wrote them.
    package func raw(_ value: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[value])
    }
}

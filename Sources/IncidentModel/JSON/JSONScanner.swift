// The grammar of the hot paths: one pass over JSON bytes that checks them exactly as `JSONParser`
// does and writes their canonical form (JSONWriter.swift: no whitespace, members sorted by the
// UTF-8 bytes of their keys, minimal escapes, numbers as written) without building a tree.
//
// It is the parser's own cursor (`JSONParser.Cursor`) with a writing twin of each reading step,
// so the two accept the same inputs and refuse the others with the same reason at the same offset:
// - strings are checked in the parser's order (quote, control character, escape, then UTF-8 of the
//   whole string at its first byte) and written with the canonical escapes;
// - an object's members are written as they come, each `"key":value` contiguous, and reordered
//   once at the closing brace only when they were not already in order;
// - duplicate keys are found as the parser finds them: equal canonical key bytes, or, when a key
//   has a non-ASCII byte, equal Swift strings (canonical equivalence, the parser's `==`); past
//   `linearKeySearchLimit` members through a set, so an object costs linear time.
// `JSONParser.parse(bytes).canonicalBytes == JSONParser.canonical(bytes)` for every input the
// parser accepts; the property tests (JSONScannerTests) and the fuzzer (`json` harness) hold the
// two to it.
//
// `scanAppend` reads an append request with it: the members of the request, of each event and
// the canonical bytes of each event member's value, which is all `EventValidator` needs.

extension JSONParser {
    /// The canonical bytes of the one JSON value in `buffer` (whitespace around it allowed),
    /// checked as `parse(buffer:)` checks it.
    public static func canonical(buffer: UnsafeBufferPointer<UInt8>) throws(Error) -> [UInt8] {
        var cursor = Cursor(bytes: buffer, index: 0)
        var out: [UInt8] = []
        out.reserveCapacity(buffer.count)
        cursor.skipWhitespace()
        _ = try cursor.writeValue(depth: 0, into: &out)
        cursor.skipWhitespace()
        guard cursor.index == buffer.count else { throw cursor.error("unexpected data after the value") }
        return out
    }

    /// Appends to `out` the canonical bytes of the value that starts exactly at `start` of
    /// `buffer` (no whitespace before it), read as a value at nesting `depth` of a larger
    /// document, so that the depth limit counts as it would in a reading of the whole; returns
    /// the index just past the value. The step `canonical(buffer:)` takes for each value, for a
    /// caller that cuts a document into values itself (the append request read in parts,
    /// `ClientRequest.parallelAppendEvents`).
    public static func writeCanonicalValue(
        in buffer: UnsafeBufferPointer<UInt8>, at start: Int, depth: Int, into out: inout [UInt8]
    ) throws(Error) -> Int {
        var cursor = Cursor(bytes: buffer, index: start)
        _ = try cursor.writeValue(depth: depth, into: &out)
        return cursor.index
    }

    /// Whether `bytes` hold no control character (below 0x20) and are valid UTF-8, as every
    /// string of JSON text must: what the parser checks of a string's bytes beyond its quotes
    /// and escapes. Both checks reduce the bytes without a branch per byte (the smallest byte,
    /// and all bytes or-ed for a high bit), and UTF-8 is validated only when a byte is non-ASCII.
    package static func isPlainText(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var smallest: UInt8 = 0xFF
        var any: UInt8 = 0
        for b in bytes {
            smallest = min(smallest, b)
            any |= b
        }
        guard smallest >= 0x20 else { return false }
        return any < 0x80 || String(validating: bytes, as: UTF8.self) != nil
    }

    /// The canonical bytes of `bytes` (see `canonical(buffer:)`).
    public static func canonical(_ bytes: some Collection<UInt8>) throws(Error) -> [UInt8] {
        try Array(bytes).withUnsafeBufferPointer { buffer throws(Error) in try canonical(buffer: buffer) }
    }
}

/// What a written string held: whether its canonical form has an escape (its bytes then differ
/// from its value) and whether it has a non-ASCII byte.
struct WrittenString {
    var escaped: Bool
    var nonASCII: Bool
}

/// One member written by `writeObject`: its key's contents (between the quotes) and the whole
/// `"key":value`, as ranges of the output.
struct WrittenMember {
    var key: Range<Int>
    var member: Range<Int>
    var string: WrittenString
}

extension JSONParser.Cursor {
    /// Writes the canonical form of the value at `index`; the twin of `parseValue(depth:)`.
    /// Returns the kind of the value (its first byte).
    @discardableResult
    mutating func writeValue(depth: Int, into out: inout [UInt8]) throws(JSONParser.Error) -> UInt8 {
        guard index < bytes.count else { throw error("unexpected end of input") }
        let first = bytes[index]
        switch first {
        case UInt8(ascii: "{"): try writeObject(depth: depth + 1, into: &out)
        case UInt8(ascii: "["): try writeArray(depth: depth + 1, into: &out)
        case UInt8(ascii: "\""): _ = try writeString(into: &out)
        case UInt8(ascii: "t"): try expect("true"); out.append(contentsOf: "true".utf8)
        case UInt8(ascii: "f"): try expect("false"); out.append(contentsOf: "false".utf8)
        case UInt8(ascii: "n"): try expect("null"); out.append(contentsOf: "null".utf8)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = index
            try scanNumber()
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        default:
            throw error("unexpected character")
        }
        return first
    }

    /// The twin of `parseArray(depth:)`.
    mutating func writeArray(depth: Int, into out: inout [UInt8]) throws(JSONParser.Error) {
        guard depth <= JSONParser.maximumDepth else { throw JSONParser.tooDeep(at: index) }
        index += 1
        out.append(UInt8(ascii: "["))
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            out.append(UInt8(ascii: "]"))
            return
        }
        var first = true
        while true {
            skipWhitespace()
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            try writeValue(depth: depth, into: &out)
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                out.append(UInt8(ascii: "]"))
                return
            }
            throw error("expected ',' or ']'")
        }
    }

    /// The twin of `parseObject(depth:)`: members written as they come, then put in key order.
    mutating func writeObject(depth: Int, into out: inout [UInt8]) throws(JSONParser.Error) {
        try writeMembers(depth: depth, into: &out) { _, _ in }
    }

    /// Writes an object (its opening brace at `index`) and calls `visit` with each member as it
    /// is written, before the members are put in order: the member's key and where its value's
    /// canonical bytes are in `out` at that moment.
    mutating func writeMembers(
        depth: Int, into out: inout [UInt8], visit: (_ member: WrittenMember, _ value: Range<Int>) -> Void
    ) throws(JSONParser.Error) {
        guard depth <= JSONParser.maximumDepth else { throw JSONParser.tooDeep(at: index) }
        index += 1
        let objectStart = out.count
        out.append(UInt8(ascii: "{"))
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            out.append(UInt8(ascii: "}"))
            return
        }
        // Room for a payload's members at once: grown from empty, the array was reallocated
        // four times for a report's dozen fields (a twentieth of reading an append).
        var members: [WrittenMember] = []
        members.reserveCapacity(16)
        var keys = Set<String>()
        var inOrder = true
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
            let keyOffset = index
            guard members.count < JSONParser.maximumMembers else { throw JSONParser.tooManyMembers(at: keyOffset) }
            if !members.isEmpty { out.append(UInt8(ascii: ",")) }
            let memberStart = out.count
            let string = try writeString(into: &out)
            let key = (memberStart + 1)..<(out.count - 1)
            if members.count < JSONParser.linearKeySearchLimit {
                for m in members where Self.sameKey(m.key, m.string, key, string, in: out) {
                    throw JSONParser.Error(offset: keyOffset, reason: "duplicate key \"\(Self.decodedKey(key, string, in: out))\"")
                }
            } else {
                if keys.isEmpty {
                    keys.reserveCapacity(64)
                    for m in members { keys.insert(Self.decodedKey(m.key, m.string, in: out)) }
                }
                let decoded = Self.decodedKey(key, string, in: out)
                guard keys.insert(decoded).inserted else {
                    throw JSONParser.Error(offset: keyOffset, reason: "duplicate key \"\(decoded)\"")
                }
            }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            out.append(UInt8(ascii: ":"))
            skipWhitespace()
            let valueStart = out.count
            try writeValue(depth: depth, into: &out)
            let member = WrittenMember(key: key, member: memberStart..<out.count, string: string)
            visit(member, valueStart..<out.count)
            if inOrder, let last = members.last, !Self.keyPrecedes(last, member, in: out) { inOrder = false }
            members.append(member)
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of input") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") { index += 1; break }
            throw error("expected ',' or '}'")
        }
        if !inOrder {
            let sorted = members.sorted { Self.keyPrecedes($0, $1, in: out) }
            var ordered: [UInt8] = []
            ordered.reserveCapacity(out.count - objectStart - 1)
            for (i, m) in sorted.enumerated() {
                if i > 0 { ordered.append(UInt8(ascii: ",")) }
                ordered.append(contentsOf: out[m.member])
            }
            out.replaceSubrange((objectStart + 1)..<out.count, with: ordered)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The twin of `parseString()`: the same checks in the same order, the value written with
    /// JSONWriter's escapes.
    mutating func writeString(into out: inout [UInt8]) throws(JSONParser.Error) -> WrittenString {
        index += 1
        let start = index
        out.append(UInt8(ascii: "\""))
        let contentStart = out.count
        var written = WrittenString(escaped: false, nonASCII: false)
        var run = index
        while index < bytes.count {
            // As `skipString`: plain bytes eight at a time, then straight to the first that
            // needs a look. They are copied with the run they belong to.
            if index + 8 <= bytes.count {
                let plain = Self.plainBytes(at: bytes.baseAddress! + index)
                index += plain
                if plain == 8 { continue }
            }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<index]))
                index += 1
                // The parser checks UTF-8 of the whole value once it is complete, at its first
                // byte. Escapes write valid UTF-8 that cannot complete a broken sequence, so the
                // written bytes are valid exactly when the decoded value is.
                if written.nonASCII {
                    let ok = out.withUnsafeBufferPointer { String(validating: UnsafeBufferPointer(rebasing: $0[contentStart...]), as: UTF8.self) != nil }
                    guard ok else { throw JSONParser.Error(offset: start, reason: "invalid UTF-8 in string") }
                }
                out.append(UInt8(ascii: "\""))
                return written
            }
            if b < 0x20 { throw error("control character in string") }
            if b >= 0x80 {
                written.nonASCII = true
                index += 1
                continue
            }
            guard b == UInt8(ascii: "\\") else {
                index += 1
                continue
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<index]))
            index += 1
            guard index < bytes.count else { throw error("unterminated string") }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): Self.writeEscaped(0x22, into: &out, &written)
            case UInt8(ascii: "\\"): Self.writeEscaped(0x5C, into: &out, &written)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): Self.writeEscaped(0x08, into: &out, &written)
            case UInt8(ascii: "f"): Self.writeEscaped(0x0C, into: &out, &written)
            case UInt8(ascii: "n"): Self.writeEscaped(0x0A, into: &out, &written)
            case UInt8(ascii: "r"): Self.writeEscaped(0x0D, into: &out, &written)
            case UInt8(ascii: "t"): Self.writeEscaped(0x09, into: &out, &written)
            case UInt8(ascii: "u"):
                let scalar = try escapedScalar()
                guard let u = Unicode.Scalar(scalar) else { throw error("invalid escape") }
                if scalar < 0x80 {
                    Self.writeEscaped(UInt8(scalar), into: &out, &written)
                } else {
                    written.nonASCII = true
                    out.append(contentsOf: UTF8.encode(u)!)
                }
            default:
                throw error("invalid escape")
            }
            run = index
        }
        throw error("unterminated string")
    }

    /// Writes one ASCII character of a string's value as JSONWriter does: the minimal escape for
    /// a quote, a backslash and a control character, the byte itself otherwise.
    @inline(__always)
    static func writeEscaped(_ b: UInt8, into out: inout [UInt8], _ written: inout WrittenString) {
        let escape: UInt8
        switch b {
        case 0x22: escape = UInt8(ascii: "\"")
        case 0x5C: escape = UInt8(ascii: "\\")
        case 0x08: escape = UInt8(ascii: "b")
        case 0x0C: escape = UInt8(ascii: "f")
        case 0x0A: escape = UInt8(ascii: "n")
        case 0x0D: escape = UInt8(ascii: "r")
        case 0x09: escape = UInt8(ascii: "t")
        case 0..<0x20:
            written.escaped = true
            out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
            out.append(JSONWriter.hexDigits[Int(b >> 4)])
            out.append(JSONWriter.hexDigits[Int(b & 0xF)])
            return
        default:
            out.append(b)
            return
        }
        written.escaped = true
        out.append(UInt8(ascii: "\\"))
        out.append(escape)
    }

    /// The value of a key written at `range` of `out` (its contents, without quotes).
    static func decodedKey(_ range: Range<Int>, _ string: WrittenString, in out: [UInt8]) -> String {
        if !string.escaped { return String(decoding: out[range], as: UTF8.self) }
        // Canonical string bytes parse back to their value.
        return (try? JSONParser.parse(out[(range.lowerBound - 1)..<(range.upperBound + 1)]))?.stringValue ?? ""
    }

    @inline(__always)
    static func bytes(_ all: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: all[range])
    }

    /// Whether two keys are the same key to the parser: equal values, where values compare as
    /// Swift strings (canonical equivalence) once either has a non-ASCII byte.
    static func sameKey(
        _ a: Range<Int>, _ sa: WrittenString, _ b: Range<Int>, _ sb: WrittenString, in out: [UInt8]
    ) -> Bool {
        if out.withUnsafeBufferPointer({ Self.bytes($0, a).sameBytes(Self.bytes($0, b)) }) { return true }
        guard sa.nonASCII || sb.nonASCII else { return false }
        return decodedKey(a, sa, in: out) == decodedKey(b, sb, in: out)
    }

    /// The canonical order: by the UTF-8 bytes of the keys' values.
    static func keyPrecedes(_ a: WrittenMember, _ b: WrittenMember, in out: [UInt8]) -> Bool {
        if !a.string.escaped && !b.string.escaped {
            return out.withUnsafeBufferPointer { Self.bytes($0, a.key).precedes(Self.bytes($0, b.key)) }
        }
        return decodedKey(a.key, a.string, in: out).utf8.lexicographicallyPrecedes(decodedKey(b.key, b.string, in: out).utf8)
    }
}

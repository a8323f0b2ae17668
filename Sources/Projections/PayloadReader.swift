import IncidentModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A targeted reader of an event's `data`: walks an object's members and decodes only the values
/// a fold needs, without building a JSON tree or allocating for keys.
///
/// Payloads were validated and written in canonical form by their origin, but the fold must
/// never trust bytes to the point of crashing: every access is bounds-checked against `end`,
/// and anything malformed makes the caller ignore the value (or the event). Strings containing
/// escapes take the slow path through `JSONParser`, so they decode exactly as the validator saw them.
struct PayloadReader {
    let bytes: UnsafeBufferPointer<UInt8>

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    // MARK: Walking

    @inline(__always) func skipWhitespace(_ i: Int, _ end: Int) -> Int {
        var i = i
        while i < end {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return i
            }
        }
        return i
    }

    /// For a string starting at its quote, the index just past its closing quote.
    @inline(__always) func stringEnd(_ start: Int, _ end: Int) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        var i = start + 1
        // Ids and enumeration values are short: a plain loop ends them before a call to memchr
        // would have started.
        let shortEnd = min(end, i + 24)
        while i < shortEnd {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") { return i + 1 }
            if c == UInt8(ascii: "\\") { break }
            i += 1
        }
        while i < end {
            // memchr finds the next quote far faster than a byte loop over a long summary.
            guard let q = memchr(base + i, Int32(UInt8(ascii: "\"")), end - i) else { return nil }
            let quote = base.distance(to: q.assumingMemoryBound(to: UInt8.self))
            // Escaped when preceded by an odd run of backslashes.
            var backslashes = 0
            var j = quote - 1
            while j > start, bytes[j] == UInt8(ascii: "\\") {
                backslashes += 1
                j -= 1
            }
            if backslashes % 2 == 0 { return quote + 1 }
            i = quote + 1
        }
        return nil
    }

    /// The index just past the JSON value starting at `start`. Containers are walked with a depth
    /// counter, not recursion, so no input can exhaust the stack.
    func valueEnd(_ start: Int, _ end: Int) -> Int? {
        guard start < end else { return nil }
        switch bytes[start] {
        case UInt8(ascii: "\""):
            return stringEnd(start, end)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var i = start
            while i < end {
                let c = bytes[i]
                // Most bytes of a container are none of these four; test them with one comparison.
                if c & 0xDF == 0x5B || c & 0xDF == 0x5D || c == UInt8(ascii: "\"") {
                    if c == UInt8(ascii: "\"") {
                        guard let e = stringEnd(i, end) else { return nil }
                        i = e
                        continue
                    }
                    if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                        depth += 1
                    } else {
                        depth -= 1
                        if depth == 0 { return i + 1 }
                    }
                }
                i += 1
            }
            return nil
        default:
            var i = start
            while i < end {
                switch bytes[i] {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D:
                    return i > start ? i : nil
                default:
                    i += 1
                }
            }
            return i > start ? i : nil
        }
    }

    /// Calls `body` with the raw key bytes (between the quotes) and the value range of each member
    /// of the object `range`. Returns false when the object is malformed; members already seen
    /// have been passed to `body` by then, so callers collect first and act after a true result.
    @inline(__always)
    func forEachMember(of range: Range<Int>, _ body: (_ key: Range<Int>, _ value: Range<Int>) -> Void) -> Bool {
        let end = min(range.upperBound, bytes.count)
        var i = skipWhitespace(max(range.lowerBound, 0), end)
        guard i < end, bytes[i] == UInt8(ascii: "{") else { return false }
        i = skipWhitespace(i + 1, end)
        if i < end, bytes[i] == UInt8(ascii: "}") { return true }
        while true {
            i = skipWhitespace(i, end)
            guard i < end, bytes[i] == UInt8(ascii: "\""), let keyEnd = stringEnd(i, end) else { return false }
            let key = (i + 1)..<(keyEnd - 1)
            i = skipWhitespace(keyEnd, end)
            guard i < end, bytes[i] == UInt8(ascii: ":") else { return false }
            i = skipWhitespace(i + 1, end)
            guard let valueEnd = valueEnd(i, end) else { return false }
            body(key, i..<valueEnd)
            i = skipWhitespace(valueEnd, end)
            guard i < end else { return false }
            if bytes[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            return bytes[i] == UInt8(ascii: "}")
        }
    }

    /// The value of member `key` of the object `range`, or nil.
    func member(_ key: StaticString, of range: Range<Int>) -> Range<Int>? {
        var found: Range<Int>? = nil
        let ok = forEachMember(of: range) { k, v in
            if found == nil, matches(k, key) { found = v }
        }
        return ok ? found : nil
    }

    // MARK: Values

    @inline(__always) func matches(_ r: Range<Int>, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard r.count == n else { return false }
        let p = literal.utf8Start
        var i = 0
        while i < n {
            if bytes[r.lowerBound + i] != p[i] { return false }
            i += 1
        }
        return true
    }

    /// Index of the first literal in `keys` equal to the raw key bytes `r`.
    @inline(__always) func index(of r: Range<Int>, in keys: [StaticString]) -> Int? {
        for (i, k) in keys.enumerated() where matches(r, k) { return i }
        return nil
    }

    /// True when `value` is a string without escapes; its content is `value` minus the quotes.
    @inline(__always) func isPlainString(_ value: Range<Int>) -> Bool {
        guard value.count >= 2, bytes[value.lowerBound] == UInt8(ascii: "\""),
            bytes[value.upperBound - 1] == UInt8(ascii: "\"")
        else { return false }
        for i in (value.lowerBound + 1)..<(value.upperBound - 1) where bytes[i] == UInt8(ascii: "\\") { return false }
        return true
    }

    /// The decoded string, or nil when `value` is not a string.
    func string(_ value: Range<Int>) -> String? {
        if isPlainString(value) {
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[(value.lowerBound + 1)..<(value.upperBound - 1)]),
                as: UTF8.self)
        }
        guard value.count >= 2, bytes[value.lowerBound] == UInt8(ascii: "\"") else { return nil }
        return (try? JSONParser.parse(buffer: UnsafeBufferPointer(rebasing: bytes[value])))?.stringValue
    }

    /// The key of an entity id, or nil when `value` is not a non-empty string.
    func entityKey(_ value: Range<Int>) -> EntityKey? {
        if isPlainString(value) {
            guard value.count > 2 else { return nil }
            return EntityKey(utf8: UnsafeBufferPointer(rebasing: bytes[(value.lowerBound + 1)..<(value.upperBound - 1)]))
        }
        guard let s = string(value), !s.isEmpty else { return nil }
        return EntityKey(s)
    }

    /// The position of the string `value` in `table` (raw bytes compared; canonical payloads have
    /// no escapes in enumeration values), or nil.
    func code(_ value: Range<Int>, in table: [[UInt8]]) -> UInt8? {
        if isPlainString(value) {
            let inner = (value.lowerBound + 1)..<(value.upperBound - 1)
            for (i, entry) in table.enumerated() where entry.count == inner.count {
                var same = true
                for j in 0..<entry.count where bytes[inner.lowerBound + j] != entry[j] {
                    same = false
                    break
                }
                if same { return UInt8(i) }
            }
            return nil
        }
        guard let s = string(value) else { return nil }
        let u = Array(s.utf8)
        return table.firstIndex(of: u).map { UInt8($0) }
    }

    /// A JSON integer (no fraction or exponent) clamped to Int64, or nil.
    func integer(_ value: Range<Int>) -> Int64? {
        var i = value.lowerBound
        guard i < value.upperBound else { return nil }
        var negative = false
        if bytes[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
        }
        guard i < value.upperBound else { return nil }
        var v: Int64 = 0
        while i < value.upperBound {
            let c = bytes[i]
            guard c >= 0x30 && c <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int64(c - 0x30))
            v = o1 || o2 ? Int64.max : s
            i += 1
        }
        return negative ? -v : v
    }

    /// Milliseconds since the epoch of an RFC 3339 UTC string value, or nil.
    func time(_ value: Range<Int>) -> Int64? {
        guard isPlainString(value) else { return nil }
        return RFC3339.parseMillis(utf8: UnsafeBufferPointer(rebasing: bytes[(value.lowerBound + 1)..<(value.upperBound - 1)]))
    }

    func isObject(_ value: Range<Int>) -> Bool {
        !value.isEmpty && bytes[value.lowerBound] == UInt8(ascii: "{")
    }

    /// The raw bytes of a value, as the origin wrote them.
    func raw(_ value: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[value])
    }
}

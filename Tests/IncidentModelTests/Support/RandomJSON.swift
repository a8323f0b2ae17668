import IncidentModel

/// Generates random JSON documents together with the value they denote, written the many ways
/// JSON allows: whitespace between tokens, raw UTF-8 or `\u` escapes (surrogate pairs for
/// characters outside the BMP, either hex case), short escapes, `\/`, numbers with fractions and
/// exponents. Object keys are unique (as Swift compares strings), because the parser refuses
/// duplicates and Foundation would silently merge them.
struct RandomJSON {
    var rng: SplitMix64
    /// Containers are only generated above this depth, which keeps documents small.
    var maximumDepth = 5
    /// Stay clear of two places where `JSONSerialization` on Linux is wrong, so that it can serve
    /// as the oracle: it does not round numbers correctly with more than 15 significant digits,
    /// a large exponent, or an uppercase `E` followed by a sign, and
    /// it drops a raw U+FEFF at the start of a string or after an escape. (JSONParserOracleDeviationTests
    /// pins what JSONParser does there.)
    var foundationSafe: Bool

    init(seed: UInt64, foundationSafe: Bool = false) {
        rng = SplitMix64(seed: seed)
        self.foundationSafe = foundationSafe
    }

    /// One document (any value at top level, padded with whitespace) and its value.
    mutating func document() -> (text: [UInt8], value: JSONValue) {
        var text = whitespace()
        let value = self.value(depth: 0, into: &text)
        text += whitespace()
        return (text, value)
    }

    mutating func value(depth: Int, into text: inout [UInt8]) -> JSONValue {
        let containers = depth < maximumDepth && rng.chance(depth < 2 ? 0.7 : 0.3)
        if containers {
            return rng.chance(0.5) ? array(depth: depth, into: &text) : object(depth: depth, into: &text)
        }
        switch rng.int(0...5) {
        case 0:
            switch rng.int(0...2) {
            case 0: text += Array("null".utf8); return .null
            case 1: text += Array("true".utf8); return .bool(true)
            default: text += Array("false".utf8); return .bool(false)
            }
        case 1, 2:
            let literal = number()
            text += Array(literal.utf8)
            return .number(literal)
        default:
            return .string(string(maximumLength: 12, into: &text))
        }
    }

    mutating func array(depth: Int, into text: inout [UInt8]) -> JSONValue {
        text.append(UInt8(ascii: "["))
        text += whitespace()
        var elements: [JSONValue] = []
        for i in 0..<rng.int(0...5) {
            if i > 0 { text += whitespace() + [UInt8(ascii: ",")] + whitespace() }
            elements.append(value(depth: depth + 1, into: &text))
        }
        text += whitespace()
        text.append(UInt8(ascii: "]"))
        return .array(elements)
    }

    mutating func object(depth: Int, into text: inout [UInt8]) -> JSONValue {
        text.append(UInt8(ascii: "{"))
        text += whitespace()
        var members: [(key: String, value: JSONValue)] = []
        var seen: Set<String> = []
        for _ in 0..<rng.int(0...5) {
            var keyText: [UInt8] = []
            let key = string(maximumLength: 6, into: &keyText)
            guard seen.insert(key).inserted else { continue }
            if !members.isEmpty { text += whitespace() + [UInt8(ascii: ",")] + whitespace() }
            text += keyText + whitespace() + [UInt8(ascii: ":")] + whitespace()
            members.append((key, value(depth: depth + 1, into: &text)))
        }
        text += whitespace()
        text.append(UInt8(ascii: "}"))
        return .object(members)
    }

    /// A JSON number literal of at most 18 significant digits and a two-digit exponent (15 digits
    /// and a one-digit exponent after a lowercase `e` when `foundationSafe`): always a finite,
    /// normal Double.
    mutating func number() -> String {
        var s = rng.chance(0.3) ? "-" : ""
        let integerDigits: Int
        if rng.chance(0.2) {
            s += "0"
            integerDigits = 0
        } else {
            integerDigits = rng.int(1...12)
            s += String(rng.int(1...9))
            for _ in 1..<integerDigits { s += String(rng.int(0...9)) }
        }
        let fractionLimit = foundationSafe ? min(6, 15 - integerDigits) : 6
        if fractionLimit > 0 && rng.chance(0.4) {
            s += "."
            for _ in 0..<rng.int(1...fractionLimit) { s += String(rng.int(0...9)) }
        }
        if rng.chance(0.3) {
            s += rng.chance(0.5) || foundationSafe ? "e" : "E"
            if rng.chance(0.5) { s += rng.chance(0.5) ? "+" : "-" }
            for _ in 0..<rng.int(1...(foundationSafe ? 1 : 2)) { s += String(rng.int(0...9)) }
        }
        return s
    }

    /// A string literal (with its quotes) appended to `text`; returns the string it denotes.
    mutating func string(maximumLength: Int, into text: inout [UInt8]) -> String {
        var scalars = String.UnicodeScalarView()
        text.append(UInt8(ascii: "\""))
        for _ in 0..<rng.int(0...maximumLength) {
            var u = scalar()
            if foundationSafe && u.value == 0xFEFF { u = "x" }
            scalars.append(u)
            encode(u, into: &text)
        }
        text.append(UInt8(ascii: "\""))
        return String(scalars)
    }

    mutating func scalar() -> Unicode.Scalar {
        let value: UInt32
        switch rng.int(0...9) {
        case 0...3: value = UInt32(rng.int(0x20...0x7E))
        case 4: value = rng.chance(0.9) ? UInt32(rng.int(0x00...0x1F)) : 0x7F
        case 5: value = [0x22, 0x5C, 0x2F][rng.int(0...2)]
        case 6: value = UInt32(rng.int(0x80...0x7FF))
        case 7: value = rng.chance(0.8) ? UInt32(rng.int(0x800...0xD7FF)) : UInt32(rng.int(0xE000...0xFFFD))
        case 8: value = UInt32(rng.int(0x10000...0x10FFFF))
        default:
            // Characters that trip up hand-written scanners: line/paragraph separators, BOM,
            // combining marks, the highest BMP and astral scalars, NUL.
            value = [0x2028, 0x2029, 0xFEFF, 0x0301, 0xFFFF, 0x10FFFF, 0x1F600, 0x0000][rng.int(0...7)]
        }
        return Unicode.Scalar(value)!
    }

    mutating func encode(_ u: Unicode.Scalar, into text: inout [UInt8]) {
        let shortEscapes: [UInt32: UInt8] = [0x08: 0x62, 0x0C: 0x66, 0x0A: 0x6E, 0x0D: 0x72, 0x09: 0x74]
        switch u.value {
        case 0x22: text += Array(#"\""#.utf8)
        case 0x5C: text += Array(#"\\"#.utf8)
        case let v where v < 0x20:
            if let short = shortEscapes[v], rng.chance(0.5) {
                text += [UInt8(ascii: "\\"), short]
            } else {
                unicodeEscape(v, into: &text)
            }
        case let v:
            if rng.chance(0.3) {
                if v > 0xFFFF {
                    let offset = v - 0x10000
                    unicodeEscape(0xD800 + (offset >> 10), into: &text)
                    unicodeEscape(0xDC00 + (offset & 0x3FF), into: &text)
                } else {
                    unicodeEscape(v, into: &text)
                }
            } else if v == 0x2F && rng.chance(0.5) {
                text += Array(#"\/"#.utf8)
            } else {
                text += Array(String(Character(u)).utf8)
            }
        }
    }

    mutating func unicodeEscape(_ v: UInt32, into text: inout [UInt8]) {
        text += Array(#"\u"#.utf8)
        for shift in stride(from: 12, through: 0, by: -4) {
            let digit = Int((v >> UInt32(shift)) & 0xF)
            let digits = rng.chance(0.5) ? "0123456789abcdef" : "0123456789ABCDEF"
            text.append(Array(digits.utf8)[digit])
        }
    }

    mutating func whitespace() -> [UInt8] {
        guard rng.chance(0.25) else { return [] }
        let characters: [UInt8] = [0x20, 0x09, 0x0A, 0x0D]
        return (0..<rng.int(1...3)).map { _ in characters[rng.int(0...3)] }
    }
}

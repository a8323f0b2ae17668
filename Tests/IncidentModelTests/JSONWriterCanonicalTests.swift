import IncidentModel
import Testing

/// The canonical form is what origins hash: any change to it changes every hash in the log.
@Suite struct JSONWriterCanonicalTests {
    static func canonical(_ text: String) throws -> String {
        String(decoding: try JSONParser.parse(Array(text.utf8)).canonicalBytes, as: UTF8.self)
    }

    @Test func objectKeysAreSortedByTheirUTF8BytesAtEveryLevel() throws {
        let text = #"{"b": 1, "a": {"d": [3, {"z": 0, "y": 1}], "c": 2}, "B": true, "f": 2, "e\u0301": 1, "e": "x", "": 0, "aa": [], "a0": {}, "\ud83d\ude00": 4, "\uff61": 3}"#
        // Byte order, not Swift's String order (which puts "e\u{301}" = "é" after "f") nor UTF-16
        // order (which puts U+1F600, D83D DE00, before U+FF61).
        let expected = "{\"\":0,\"B\":true,\"a\":{\"c\":2,\"d\":[3,{\"y\":1,\"z\":0}]},\"a0\":{},\"aa\":[],\"b\":1,"
            + "\"e\":\"x\",\"e\u{301}\":1,\"f\":2,\"\u{FF61}\":3,\"\u{1F600}\":4}"
        #expect(try Self.canonical(text).utf8.elementsEqual(expected.utf8))
    }

    @Test func stringsUseMinimalEscapes() throws {
        let hex = Array("0123456789abcdef")
        let controls = (0x00...0x1F).map { "\\u00" + String(hex[$0 >> 4]) + String(hex[$0 & 0xF]) }.joined()
        let text = "\"\(controls)\\\" \\\\ \\/ \u{7F} é 😀 \\u2028\""
        let expected = #""\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f"#
            + #"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f"#
            + "\\\" \\\\ / \u{7F} é 😀 \u{2028}\""
        #expect(try Self.canonical(text).utf8.elementsEqual(expected.utf8))
    }

    @Test func numbersAreWrittenExactlyAsTheyWereRead() throws {
        #expect(try Self.canonical("[1.50, 1E+2, -0, 0.1e-7, 12345678901234567890123]")
            == "[1.50,1E+2,-0,0.1e-7,12345678901234567890123]")
    }

    @Test func integersAreWrittenAsSwiftPrintsThem() {
        // Every stored event's seq and clock go through `integer`; its hash covers them.
        var values: [Int64] = [0, 1, 9, 10, 99, 100, -1, -9, -10, Int64.max, Int64.min, Int64.min + 1, 1_796_512_345_678]
        var power: Int64 = 1
        for _ in 0..<18 {
            power *= 10
            values += [power - 1, power, power + 1, -power, -(power - 1)]
        }
        var random = SplitMix64(seed: 0x1A7E_6E25)
        for _ in 0..<2000 { values.append(Int64(bitPattern: random.next()) >> Int64(random.next() % 64)) }
        for v in values {
            var w = JSONWriter()
            w.integer(v)
            #expect(String(decoding: w.bytes, as: UTF8.self) == String(v))
        }
        var w = JSONWriter()
        w.integer(UInt32.max)
        w.raw(UInt8(ascii: ","))
        w.integer(UInt64(Int64.max))
        #expect(String(decoding: w.bytes, as: UTF8.self) == "4294967295,9223372036854775807")
    }

    @Test func whitespaceOutsideStringsIsDropped() throws {
        #expect(try Self.canonical(" \n{ \"a\" :\t[ 1 , true , null ] ,\r\"b\" : \" x \" } ")
            == #"{"a":[1,true,null],"b":" x "}"#)
    }

    @Test func canonicalOutputReparsesToAnEqualValueAndIsIdempotent() throws {
        var generator = RandomJSON(seed: 0xCA70_01CA)
        for n in 0..<1_000 {
            let (_, value) = generator.document()
            let once = value.canonicalBytes
            let reparsed = try JSONParser.parse(once)
            #expect(JSONTree(reparsed) == JSONTree(value), "value \(n)")
            #expect(Self.isSortedAndCompact(reparsed, bytes: once), "value \(n): \(String(decoding: once, as: UTF8.self))")
            let twice = reparsed.canonicalBytes
            guard twice == once else {
                Issue.record("not idempotent: \(String(decoding: once, as: UTF8.self)) → \(String(decoding: twice, as: UTF8.self))")
                return
            }
        }
    }

    /// Members strictly ascending by key bytes at every level, and no byte outside strings that
    /// is whitespace.
    static func isSortedAndCompact(_ value: JSONValue, bytes: [UInt8]) -> Bool {
        var inString = false
        var escaped = false
        for b in bytes {
            if inString {
                if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
            } else if b == UInt8(ascii: "\"") {
                inString = true
            } else if [0x20, 0x09, 0x0A, 0x0D].contains(b) {
                return false
            }
        }
        return isSorted(value)
    }

    static func isSorted(_ value: JSONValue) -> Bool {
        switch value {
        case .array(let elements): return elements.allSatisfy(isSorted)
        case .object(let members):
            for (a, b) in zip(members, members.dropFirst()) where !a.key.utf8.lexicographicallyPrecedes(b.key.utf8) {
                return false
            }
            return members.allSatisfy { isSorted($0.value) }
        default: return true
        }
    }
}

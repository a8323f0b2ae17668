@testable import IncidentModel
import Testing

/// `PayloadReader.member`, which reads a field back from a stored payload by the structure of
/// its bytes alone, held to the tree parser: for canonical objects it finds exactly the bytes
/// of the member the tree finds, and nothing when the tree has no such member.
@Suite struct PayloadReaderMemberTests {
    /// The names looked up: plain ASCII, as every field name of the catalogue is.
    static let names: [StaticString] = ["a", "changes", "location", "occurred_at", "summary", "z", "~"]
    /// Keys of the generated objects: the names, their neighbours in byte order (prefixes,
    /// extensions), and keys that are not plain (escapes, non-ASCII), which sort by value.
    static let keys = [
        "a", "changes", "location", "occurred_at", "summary", "z", "~", "", "A", "a!", "ab", "chang", "changes_", "loc",
        "occurred", "occurred_at2", "occurred_au", "s", "summarz", "zz", "a\"", "a\\", "a\u{1}", "é", "location\u{E9}",
        "\u{1F69A}", "}", "{\"a\":1}",
    ]

    /// A random object: members drawn from `keys` (unique), each value a random document, as
    /// the tree parser would write them canonically.
    static func object(_ random: inout RandomJSON) -> JSONValue {
        var members: [(key: String, value: JSONValue)] = []
        for key in keys where random.rng.chance(0.35) {
            members.append((key, random.document().value))
        }
        return .object(members)
    }

    static func treeMember(_ value: JSONValue, _ name: StaticString) -> [UInt8]? {
        value["\(name)"].map { $0.canonicalBytes }
    }

    static func readerMember(_ bytes: [UInt8], _ name: StaticString, in range: Range<Int>? = nil) -> [UInt8]? {
        bytes.withUnsafeBufferPointer { buffer in
            let reader = PayloadReader(buffer)
            return reader.member(name, of: range ?? 0..<buffer.count).map { Array(reader.raw($0)) }
        }
    }

    @Test func randomCanonicalObjectsGiveTheTreesMember() {
        var random = RandomJSON(seed: 0x4D45_4D42)
        var found = 0
        for n in 0..<600 {
            let value = Self.object(&random)
            let bytes = value.canonicalBytes
            for name in Self.names {
                let expected = Self.treeMember(value, name)
                let got = Self.readerMember(bytes, name)
                guard expected == got else {
                    Issue.record(
                        "object \(n), member \(name): tree \(expected.map { String(decoding: $0, as: UTF8.self) } ?? "nil"), reader \(got.map { String(decoding: $0, as: UTF8.self) } ?? "nil") in \(String(decoding: bytes, as: UTF8.self))"
                    )
                    return
                }
                if expected != nil { found += 1 }
            }
        }
        // Most lookups must find something, or the comparison says little.
        #expect(found > 1_000)
    }

    /// One walk for several lookups: names in increasing order go on from the last one, names
    /// out of order start the walk again; either way each gives the tree's member.
    @Test func oneWalkGivesEveryMemberInAnyOrder() {
        var random = RandomJSON(seed: 0x5741_4C4B)
        for n in 0..<300 {
            let value = Self.object(&random)
            let bytes = value.canonicalBytes
            var order = Self.names
            if n % 2 == 1 { order.shuffle(using: &random.rng) }
            // Every name twice, the second time out of order.
            order += order
            let got: [[UInt8]?] = bytes.withUnsafeBufferPointer { buffer in
                let reader = PayloadReader(buffer)
                var walk = reader.walk(of: 0..<buffer.count)
                return order.map { name in reader.member(name, in: &walk).map { Array(reader.raw($0)) } }
            }
            let expected = order.map { Self.treeMember(value, $0) }
            guard got == expected else {
                Issue.record("object \(n), names \(order): \(String(decoding: bytes, as: UTF8.self))")
                return
            }
        }
    }

    /// Inside an event line the object is a range of the line: the walk stays within it.
    @Test func theObjectIsReadWithinItsRange() {
        let line = Array(#"{"data":{"a":1,"summary":"x"},"summary":"outside"}"#.utf8)
        let object = 8..<29
        #expect(String(decoding: line[object], as: UTF8.self) == #"{"a":1,"summary":"x"}"#)
        #expect(Self.readerMember(line, "summary", in: object) == Array(#""x""#.utf8))
        #expect(Self.readerMember(line, "z", in: object) == nil)
        // Cut before its closing brace, the object has no member past the cut.
        #expect(Self.readerMember(line, "summary", in: 8..<20) == nil)
    }

    /// Values whose bytes hold brackets, quotes and commas inside strings are passed over whole.
    @Test func bracketsAndQuotesInsideStringsAreNotStructure() {
        let bytes = Array(#"{"a":["}",{"b":"]\"{"}],"location":{"name":"x,y}"},"summary":"\\\"}"}"#.utf8)
        #expect(Self.readerMember(bytes, "location") == Array(#"{"name":"x,y}"}"#.utf8))
        #expect(Self.readerMember(bytes, "summary") == Array(#""\\\"}""#.utf8))
        #expect(Self.readerMember(bytes, "a") == Array(#"["}",{"b":"]\"{"}]"#.utf8))
    }

    /// Bytes that are not JSON (a damaged line read back) give nil, never a trap.
    @Test func damagedBytesGiveNil() {
        let whole = Array(#"{"a":[1,{"b":"c"}],"location":{"name":"x"},"summary":"s"}"#.utf8)
        for cut in 0..<whole.count {
            let bytes = Array(whole[..<cut])
            for name in Self.names { _ = Self.readerMember(bytes, name) }
        }
        #expect(Self.readerMember(Array(#"{"a" 1}"#.utf8), "a") == nil)
        #expect(Self.readerMember(Array(#"{"a":1 "summary":2}"#.utf8), "summary") == nil)
        #expect(Self.readerMember(Array(#"["a",1]"#.utf8), "a") == nil)
    }
}

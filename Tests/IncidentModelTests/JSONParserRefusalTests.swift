import IncidentModel
import Testing

/// Strictness of the parser: what RFC 8259 forbids (and what this project forbids on top of it:
/// duplicate keys, nesting deeper than 64) is refused, never guessed at.
@Suite struct JSONParserRefusalTests {
    static func refusal(_ text: String) -> JSONParser.Error? {
        refusal(Array(text.utf8))
    }

    static func refusal(_ bytes: [UInt8]) -> JSONParser.Error? {
        do {
            let value = try JSONParser.parse(bytes)
            Issue.record("accepted \(String(decoding: bytes, as: UTF8.self).debugDescription) as \(value)")
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: ["[1,2,]", "{\"a\":1,}", "[,]", "[1,,2]", "{,}", "{\"a\":1,,\"b\":2}"])
    func trailingAndStrayCommasAreRefused(text: String) {
        #expect(Self.refusal(text) != nil)
    }

    @Test(arguments: ["01", "-01", "[00]", "{\"a\":007}", "00.5", "-00"])
    func leadingZerosAreRefused(text: String) {
        #expect(Self.refusal(text) != nil)
    }

    @Test(arguments: [
        #""\ud800""#, #""\udc00""#, #""\uDBFF""#, #""\ud800x""#, #""\ud800\u0041""#, #""\ud800\ud800""#,
        #""\udc00\ud800""#, #""a\ud83d""#, #"{"\ud800":1}"#,
    ])
    func loneSurrogatesAreRefused(text: String) throws {
        let error = try #require(Self.refusal(text))
        #expect(error.reason == "lone surrogate")
    }

    @Test(arguments: Array(0x00...0x1F))
    func rawControlCharactersInStringsAreRefused(byte: Int) throws {
        let text: [UInt8] = Array("\"ab".utf8) + [UInt8(byte)] + Array("cd\"".utf8)
        let error = try #require(Self.refusal(text))
        #expect(error.reason == "control character in string")
        #expect(error.offset == 3)
    }

    @Test func rawControlCharacterAfterAnEscapeIsRefused() throws {
        // The slow path (after the first escape) has its own loop; it must be as strict.
        let error = try #require(Self.refusal(Array(#""\n"#.utf8) + [0x01] + Array("\"".utf8)))
        #expect(error.reason == "control character in string")
    }

    @Test(arguments: [
        (#"{"a":1,"a":2}"#, "a", 7),
        (#"{"x":{"k":true,"z":0,"k":false}}"#, "k", 21),
        (#"[{"id":1},{"id":2,"id":3}]"#, "id", 18),
        (#"{"\u0061":1,"a":2}"#, "a", 12),
    ])
    func duplicateKeysAreRefused(text: String, key: String, offset: Int) throws {
        let error = try #require(Self.refusal(text))
        #expect(error.reason == "duplicate key \"\(key)\"")
        #expect(error.offset == offset)
    }

    @Test func nestingOfSixtyFourLevelsIsAcceptedAndSixtyFiveRefused() throws {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let allowed =
                String(repeating: open, count: JSONParser.maximumDepth) + "0"
                + String(repeating: close, count: JSONParser.maximumDepth)
            #expect(throws: Never.self) { try JSONParser.parse(Array(allowed.utf8)) }
            let tooDeep = open + allowed + close
            let error = try #require(Self.refusal(tooDeep))
            #expect(error.reason == "nesting too deep")
        }
        let mixed = String(repeating: "[{\"a\":", count: 33) + "0" + String(repeating: "}]", count: 33)
        #expect(Self.refusal(mixed)?.reason == "nesting too deep")
        // Hostile input: far deeper than the stack would survive without the limit.
        #expect(Self.refusal(String(repeating: "[", count: 100_000))?.reason == "nesting too deep")
    }

    @Test func skipValueAppliesTheSameDepthLimit() throws {
        let allowed = Array((String(repeating: "[", count: 64) + String(repeating: "]", count: 64)).utf8)
        let end = try allowed.withUnsafeBufferPointer { try JSONParser.skipValue(in: $0, from: 0) }
        #expect(end == allowed.count)
        let tooDeep = Array((String(repeating: "[", count: 65) + String(repeating: "]", count: 65)).utf8)
        #expect(throws: JSONParser.Error.self) {
            try tooDeep.withUnsafeBufferPointer { try JSONParser.skipValue(in: $0, from: 0) }
        }
    }

    @Test(arguments: [
        "", " ", "1.", ".5", "+1", "1e", "1e+", "-", "--1", "0x10", "NaN", "Infinity", "tru", "nul", "True",
        "'a'", "\"abc", "\"\\x\"", "\"\\u12G4\"", "\"\\u12\"", "[1 2]", "{\"a\" 1}", "{\"a\":}", "{a:1}", "{1:2}",
        "[1]]", "1 2", "[", "{", "]", "/* c */ 1", "[1] // c", "\"\\\"",
    ])
    func malformedDocumentsAreRefused(text: String) {
        #expect(Self.refusal(text) != nil)
    }

    @Test(arguments: [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80]] as [[UInt8]])
    func invalidUTF8InStringsIsRefused(bytes: [UInt8]) throws {
        // 0xFF never occurs; C0 80 is an overlong NUL; ED A0 80 is an encoded surrogate;
        // E2 82 is truncated; F4 90 80 80 is above U+10FFFF.
        let error = try #require(Self.refusal([UInt8(ascii: "\"")] + bytes + [UInt8(ascii: "\"")]))
        #expect(error.reason == "invalid UTF-8 in string")
        // The same bytes after an escape go through the slow path.
        let escaped = try #require(Self.refusal(Array(#""\t"#.utf8) + bytes + [UInt8(ascii: "\"")]))
        #expect(escaped.reason == "invalid UTF-8 in string")
    }

    @Test func skipValueRefusesWhatParseRefusesExceptDuplicateKeys() {
        // skipValue finds `data` in an event line; it must not let through what parse refuses,
        // or an invalid payload would be hashed and stored.
        let refusedByBoth = [
            "[1,2,]", "{\"a\":1,}", "[01]", #"["\ud800"]"#, "[\"a\u{01}\"]", "[1 2]", "{\"a\" 1}", "[tru]", "[\"\\x\"]",
        ]
        for text in refusedByBoth {
            let bytes = Array(text.utf8)
            #expect(throws: JSONParser.Error.self, "\(text)") {
                try bytes.withUnsafeBufferPointer { try JSONParser.skipValue(in: $0, from: 0) }
            }
        }
    }

    /// `skipValue` and the canonical writer step over a string's plain bytes eight at a time and
    /// jump to the first that needs a look. Wherever a quote, backslash, control character or
    /// non-ASCII byte falls in that window, they accept what `parse` accepts, `skipValue` ends
    /// where the value ends, the writer writes the tree's canonical bytes, and both refuse a
    /// string the same way at every alignment in memory (`skipValue`'s wording may differ from
    /// `parse`'s, which checks a string's UTF-8 as a whole).
    @Test func stringLoopsEndAndRefuseAtEveryAlignment() {
        let pieces: [[UInt8]] = [
            Array("a".utf8), Array("abcdefgh".utf8), Array("\\\"".utf8), Array("\\n".utf8), Array("\\u00e9".utf8),
            Array("\\ud83d\\ude9a".utf8), Array("é".utf8), Array("🚁".utf8), [0x01], [0x1F], [0x7F], [0xC3], [0xFF], [0xE2, 0x82],
            Array("\"".utf8), Array("\\".utf8), Array("\\x".utf8),
        ]
        var rng = SplitMix64(seed: 0x5EA1)
        var refused = 0
        for _ in 0..<3000 {
            var value: [UInt8] = [UInt8(ascii: "\"")]
            for _ in 0..<Int(rng.next() % 12) { value += pieces[Int(rng.next() % UInt64(pieces.count))] }
            if rng.next() % 4 != 0 { value.append(UInt8(ascii: "\"")) }
            func skipped(at shift: Int) -> Result<Int, JSONParser.Error> {
                let bytes = Array(repeating: UInt8(ascii: " "), count: shift) + value
                return bytes.withUnsafeBufferPointer { buffer in
                    Result { () throws(JSONParser.Error) in try JSONParser.skipValue(in: buffer, from: shift) - shift }
                        .mapError { JSONParser.Error(offset: $0.offset - shift, reason: $0.reason) }
                }
            }
            func written(at shift: Int) -> Result<[UInt8], JSONParser.Error> {
                let bytes = Array(repeating: UInt8(ascii: " "), count: shift) + value
                return bytes.withUnsafeBufferPointer { buffer in
                    Result { () throws(JSONParser.Error) -> [UInt8] in
                        var out: [UInt8] = []
                        _ = try JSONParser.writeCanonicalValue(in: buffer, at: shift, depth: 0, into: &out)
                        return out
                    }.mapError { JSONParser.Error(offset: $0.offset - shift, reason: $0.reason) }
                }
            }
            let first = skipped(at: 0)
            let firstWritten = written(at: 0)
            for shift in 1..<8 {
                #expect(skipped(at: shift) == first, "\(value) shifted by \(shift)")
                #expect(written(at: shift) == firstWritten, "\(value) written shifted by \(shift)")
            }
            let parsed = Result { () throws(JSONParser.Error) in try JSONParser.parse(value) }
            switch (parsed, firstWritten) {
            case (.success(let tree), .success(let bytes)): #expect(bytes == tree.canonicalBytes, "\(value)")
            case (.failure(let error), .success(let bytes)):
                // parse refuses bytes after the value; the writer stops at its end.
                #expect(first.map { $0 < value.count } == .success(true), "parse refuses \(value) (\(error)), the writer wrote \(bytes)")
            case (.success, .failure(let error)): Issue.record("the writer refuses \(value) (\(error)), parse accepts it")
            case (.failure, .failure): break
            }
            switch (parsed, first) {
            case (.success, .success(let end)): #expect(end == value.count, "\(value)")
            case (.failure, .failure): refused += 1
            case (.success, .failure(let error)): Issue.record("skipValue refuses \(value) (\(error)), parse accepts it")
            case (.failure(let error), .success(let end)):
                // parse refuses bytes after the value; skipValue stops at its end.
                #expect(end < value.count, "parse refuses \(value) (\(error)), skipValue accepts it whole")
            }
        }
        #expect(refused > 500)
    }
}

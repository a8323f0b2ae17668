import IncidentModel
import Testing

/// The scanner (`JSONParser.canonical`) held to the tree parser: for every input, both accept
/// it and the scanner's bytes are the tree's canonical encoding, or both refuse it with the same
/// reason, kind and offset.
@Suite struct JSONScannerTests {
    static let seed: UInt64 = 0x5CA_2026_1204

    /// The tree's answer and the scanner's answer, as comparable values.
    enum Outcome: Equatable, CustomStringConvertible {
        case accepted([UInt8])
        case refused(JSONParser.Error)

        var description: String {
            switch self {
            case .accepted(let bytes): "accepted \(String(decoding: bytes, as: UTF8.self).debugDescription)"
            case .refused(let error): "refused \(error) (\(error.kind))"
            }
        }
    }

    static func tree(_ bytes: [UInt8]) -> Outcome {
        do { return .accepted(try JSONParser.parse(bytes).canonicalBytes) } catch { return .refused(error) }
    }

    static func scanner(_ bytes: [UInt8]) -> Outcome {
        do { return .accepted(try JSONParser.canonical(bytes)) } catch { return .refused(error) }
    }

    static func agree(_ bytes: [UInt8], _ label: @autoclosure () -> String) -> Bool {
        let expected = tree(bytes)
        let got = scanner(bytes)
        guard expected == got else {
            Issue.record("\(label()): tree \(expected), scanner \(got) — input \(String(decoding: bytes, as: UTF8.self).debugDescription)")
            return false
        }
        return true
    }

    @Test func randomDocumentsGiveTheTreesCanonicalBytes() {
        var generator = RandomJSON(seed: Self.seed)
        var accepted = 0
        for n in 0..<3_000 {
            let (text, _) = generator.document()
            guard Self.agree(text, "document \(n)") else { return }
            if case .accepted = Self.tree(text) { accepted += 1 }
        }
        // The generator writes valid documents (duplicate keys aside): most must be accepted, or
        // the comparison above says little.
        #expect(accepted > 2_500)
    }

    /// Every document cut, with a byte changed, inserted or removed: the same refusals.
    @Test func mutatedDocumentsAreRefusedAlike() {
        var generator = RandomJSON(seed: Self.seed ^ 0xBAD)
        var random = SplitMix64(seed: Self.seed)
        let alphabet = Array(#"{}[]":,\ "tfn0-1e.u"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xA9, 0xED, 0xF4, 0xFF]
        var refused = 0
        for n in 0..<3_000 {
            var text = generator.document().text
            guard !text.isEmpty else { continue }
            for _ in 0..<(1 + Int(random.next() % 3)) where !text.isEmpty {
                let at = Int(random.next() % UInt64(text.count))
                let byte = alphabet[Int(random.next() % UInt64(alphabet.count))]
                switch random.next() % 4 {
                case 0: text[at] = byte
                case 1: text.insert(byte, at: at)
                case 2: if text.count > 1 { text.remove(at: at) }
                default: text = Array(text[..<at])
                }
            }
            guard Self.agree(text, "mutation \(n)") else { return }
            if case .refused = Self.tree(text) { refused += 1 }
        }
        #expect(refused > 1_000)
    }

    @Test(arguments: [
        // Members out of order, nested, with whitespace; escapes that are and are not canonical.
        #"{"b":1,"a":{"d":[1,{"z":null,"y":true}],"c":"x"}}"#,
        " {\n\t\"é\" : \"\\u00e9\" , \"e\":\"\\/\\b\\f\\n\\r\\t\\u0001\\u007f\\\"\\\\\" } ",
        // Keys whose escaped form sorts differently from their value.
        #"{"a\"":1,"a!":2,"a#":3,"a\u0000":4,"a":5}"#,
        #"{"\ud83d\ude9a":1,"\uffff":2,"~":3}"#,
        // Duplicates: plain, through an escape, canonically equivalent, past the linear search.
        #"{"a":1,"a":2}"#, #"{"a":1,"\u0061":2}"#, "{\"\u{E9}\":1,\"e\u{301}\":2}", "{\"K\":1,\"\u{212A}\":2}",
        "{" + (0..<20).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + ",\"k3\":0}",
        "{" + (0..<20).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + ",\"e\u{301}\":0,\"\u{E9}\":1}",
        // Broken strings: each refusal where the parser makes it.
        "\"\u{1}\"", #""\x""#, #""\ud800""#, "\"a", "\"\u{FF}\u{1}\"",
    ])
    func edgeCasesAgree(text: String) {
        _ = Self.agree(Array(text.utf8), "edge case")
    }

    @Test func invalidUTF8IsRefusedAtTheStringsFirstByteBeforeLaterEscapesAreJudgedValid() {
        for bytes: [UInt8] in [
            [0x22, 0x61, 0xC3, 0x22], [0x22, 0xC3, 0x5C, 0x6E, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
            [0x5B, 0x22, 0x80, 0x22, 0x5D], [0x22, 0xC3, 0x5C, 0x75, 0x30, 0x30, 0x65, 0x39, 0x22],
        ] {
            guard Self.agree(bytes, "invalid UTF-8") else { return }
        }
    }

    @Test func theDepthAndMemberBoundsAreTheParsers() {
        let deep = Array(String(repeating: "[", count: 65).utf8) + Array(String(repeating: "]", count: 65).utf8)
        let fine = Array(String(repeating: "[", count: 64).utf8) + Array(String(repeating: "]", count: 64).utf8)
        let many = Array(("{" + (0...JSONParser.maximumMembers).map { "\"k\($0)\":0" }.joined(separator: ",") + "}").utf8)
        for (bytes, label) in [(deep, "too deep"), (fine, "deepest allowed"), (many, "too many members")] {
            _ = Self.agree(bytes, label)
        }
        #expect(Self.scanner(deep) != Self.scanner(fine))
    }
}

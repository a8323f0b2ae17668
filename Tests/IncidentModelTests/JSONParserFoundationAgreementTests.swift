import Foundation
import IncidentModel
import Testing

/// The hand-written parser is on every hot path; Foundation's `JSONSerialization` is the oracle
/// it must agree with on every valid document.
@Suite struct JSONParserFoundationAgreementTests {
    static let seed: UInt64 = 0x1DC1_0E47_2026
    static let documents = 3_000

    @Test func randomDocumentsParseToTheValueTheyWereWrittenFrom() {
        var generator = RandomJSON(seed: Self.seed)
        for n in 0..<Self.documents {
            let (text, expected) = generator.document()
            let shown = "document \(n) of seed \(Self.seed): \(String(decoding: text, as: UTF8.self).debugDescription)"
            do {
                let parsed = try JSONParser.parse(text)
                // JSONValue's == compares number literals and member order exactly; the tree
                // comparison adds exact string bytes (== on String is canonical equivalence).
                guard parsed == expected, JSONTree(parsed) == JSONTree(expected) else {
                    Issue.record("parsed \(JSONTree(parsed)), expected \(JSONTree(expected)) — \(shown)")
                    return
                }
                let fromBuffer = try text.withUnsafeBufferPointer { try JSONParser.parse(buffer: $0) }
                guard fromBuffer == parsed else {
                    Issue.record("parse(buffer:) differs from parse(_:) — \(shown)")
                    return
                }
            } catch {
                Issue.record("refused a valid document: \(error) — \(shown)")
                return
            }
        }
    }

    @Test func randomDocumentsParseLikeFoundation() {
        var generator = RandomJSON(seed: Self.seed ^ 0xF0F0, foundationSafe: true)
        for n in 0..<Self.documents {
            let (text, _) = generator.document()
            let shown = "document \(n): \(String(decoding: text, as: UTF8.self).debugDescription)"
            let ours: JSONTree
            let theirs: JSONTree
            do {
                ours = JSONTree(try JSONParser.parse(text))
            } catch {
                Issue.record("JSONParser refused: \(error) — \(shown)")
                return
            }
            do {
                let object = try JSONSerialization.jsonObject(with: Data(text), options: [.fragmentsAllowed])
                guard let tree = JSONTree(foundation: object) else {
                    Issue.record("unexpected Foundation type \(type(of: object)) — \(shown)")
                    return
                }
                theirs = tree
            } catch {
                Issue.record("the generator wrote a document Foundation refuses: \(error) — \(shown)")
                return
            }
            guard ours == theirs else {
                Issue.record("JSONParser vs Foundation at \(ours.firstDifference(from: theirs) ?? "?") — \(shown)")
                return
            }
        }
    }

    @Test func canonicalEncodingOfRandomValuesParsesLikeFoundation() {
        var generator = RandomJSON(seed: Self.seed ^ 0x0C0C, foundationSafe: true)
        for n in 0..<500 {
            let (_, value) = generator.document()
            let canonical = value.canonicalBytes
            let shown = "value \(n): \(String(decoding: canonical, as: UTF8.self).debugDescription)"
            guard let object = try? JSONSerialization.jsonObject(with: Data(canonical), options: [.fragmentsAllowed]),
                let theirs = JSONTree(foundation: object)
            else {
                Issue.record("Foundation refuses the canonical encoding — \(shown)")
                return
            }
            guard theirs == JSONTree(value) else {
                Issue.record("expected vs Foundation at \(JSONTree(value).firstDifference(from: theirs) ?? "?") — \(shown)")
                return
            }
        }
    }
}

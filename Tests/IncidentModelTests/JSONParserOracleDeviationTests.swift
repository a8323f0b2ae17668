import IncidentModel
import Testing

/// Where Foundation's `JSONSerialization` (swift-corelibs/swift-foundation on Linux) is wrong and
/// so cannot be the oracle, JSONParser must still be right.
@Suite struct JSONParserOracleDeviationTests {
    @Test(arguments: [
        ("654596370209.66418", 654596370209.6642),  // Foundation reads 654596370209.6643
        ("123456789012.12345", 123456789012.12344),  // Foundation reads 123456789012.12346
        ("375555836.91885E92", 3.7555583691885e+100),  // Foundation reads 3.7555583691884975e+100
        ("90771471780.308E-0", 90771471780.308),  // Foundation reads 90771471780.30801 (but is right with "e-0")
        ("0.1", 0.1), ("9007199254740993", 9007199254740992.0), ("2.2250738585072014e-308", 2.2250738585072014e-308),
    ] as [(String, Double)])
    func numbersAreReadCorrectlyRounded(literal: String, expected: Double) throws {
        let value = try JSONParser.parse(Array("[\(literal)]".utf8))
        #expect(value.arrayValue?.first == .number(literal))
        #expect(value.arrayValue?.first?.doubleValue == expected)
    }

    @Test func aByteOrderMarkInAStringIsKept() throws {
        // Foundation drops a raw U+FEFF at the start of a string and after an escape; inside a
        // JSON string it is content, not an encoding signature.
        let value = try JSONParser.parse(Array("{\"\u{FEFF}k\":\"\u{FEFF}v\\n\u{FEFF}\"}".utf8))
        let member = try #require(value.objectMembers?.first)
        #expect(member.key.unicodeScalars.map(\.value) == [0xFEFF, 0x6B])
        #expect(member.value.stringValue?.unicodeScalars.map(\.value) == [0xFEFF, 0x76, 0x0A, 0xFEFF])
    }
}

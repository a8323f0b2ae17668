import Foundation
import IncidentModel
import Testing

@Suite struct Base64Tests {
    @Test func encodingAgreesWithFoundationAndDecodesBack() {
        var rng = SplitMix64(seed: 64)
        for length in 0..<200 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let encoded = Base64.encode(bytes)
            #expect(encoded == Data(bytes).base64EncodedString(), "length \(length)")
            #expect(Base64.decode(encoded) == bytes, "length \(length)")
        }
    }

    @Test(arguments: ["A", "AA", "AAA", "A===", "AA=A", "=AAA", "AAAA====", "AA==AAAA", "AA*A", "AA A", "AAA\n"])
    func malformedBase64IsRefused(text: String) {
        #expect(Base64.decode(text) == nil)
    }
}

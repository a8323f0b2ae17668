import Foundation
import IncidentModel
import Testing

@testable import Projections

/// A canonical lowercase UUID is kept as its bits, anything else as its text, and the text comes
/// back exactly.
@Suite struct EntityKeyTests {
    /// The digit-by-digit reading the word-at-a-time one must agree with.
    static func reference(_ s: String) -> (UInt64, UInt64)? {
        let b = Array(s.utf8)
        guard b.count == 36, [8, 13, 18, 23].allSatisfy({ b[$0] == UInt8(ascii: "-") }) else { return nil }
        var hi: UInt64 = 0
        var lo: UInt64 = 0
        var n = 0
        for (i, c) in b.enumerated() where ![8, 13, 18, 23].contains(i) {
            guard let d = "0123456789abcdef".utf8.firstIndex(of: c).map({ UInt64("0123456789abcdef".utf8.distance(from: "0123456789abcdef".utf8.startIndex, to: $0)) }) else { return nil }
            if n < 16 { hi = hi << 4 | d } else { lo = lo << 4 | d }
            n += 1
        }
        return (hi, lo)
    }

    @Test func uuidsAreReadAsTheDigitByDigitReadingDoes() {
        var rng = SplitMix64(seed: 36)
        let alphabet = Array("0123456789abcdefABCDEFgz-/:@`G{".utf8)
        for round in 0..<20_000 {
            var bytes = Array(UUID().uuidString.lowercased().utf8)
            // Most rounds change one or two bytes to a near miss.
            for _ in 0..<Int(rng.next() % 3) where round % 4 != 0 {
                bytes[Int(rng.next() % 36)] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
            }
            let text = String(decoding: bytes, as: UTF8.self)
            let parsed = bytes.withUnsafeBufferPointer { EntityKey.parseUUID($0) }
            let expected = Self.reference(text)
            #expect(parsed?.0 == expected?.0 && parsed?.1 == expected?.1, "\(text)")
            #expect(EntityKey(text).text == text)
        }
    }
}

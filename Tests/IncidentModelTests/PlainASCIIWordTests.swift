@testable import IncidentModel
import Testing

/// The eight-bytes-at-a-time test of `JSONParser.Cursor.skipString` against a byte-by-byte reference.
@Suite struct PlainASCIIWordTests {
    static func reference(_ w: UInt64) -> Bool {
        (0..<8).allSatisfy { i in
            let b = UInt8(truncatingIfNeeded: w >> (8 * UInt64(i)))
            return b >= 0x20 && b < 0x80 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\")
        }
    }

    @Test func agreesWithTheByteLoopOnEveryByteInEveryPosition() {
        let plain = UInt64(0x6161_6161_6161_6161)  // "aaaaaaaa"
        for position in 0..<8 {
            for byte in UInt64(0)...0xFF {
                let shift = UInt64(8 * position)
                let w = (plain & ~(0xFF << shift)) | (byte << shift)
                #expect(JSONParser.Cursor.plainASCII(w) == Self.reference(w), "byte \(byte) at \(position)")
            }
        }
    }

    @Test func agreesWithTheByteLoopOnRandomWords() {
        var rng = SplitMix64(seed: 20)
        // Bytes drawn mostly from the edges that matter: 0x00, 0x1F/0x20, quote, backslash, 0x7F/0x80.
        let edges: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7E, 0x7F, 0x80, 0xFF, 0x61]
        for _ in 0..<200_000 {
            var w: UInt64 = 0
            for i in 0..<8 {
                let b = rng.next() % 3 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : edges[Int(rng.next() % UInt64(edges.count))]
                w |= UInt64(b) << UInt64(8 * i)
            }
            #expect(JSONParser.Cursor.plainASCII(w) == Self.reference(w))
        }
    }
}

@testable import IncidentModel
import Testing

/// `sameBytes` and `precedes` decide duplicate keys, the canonical order of members and which
/// type and sector an append names: they must agree with the standard library's byte comparisons.
@Suite struct ByteOrderTests {
    @Test func agreeWithTheStandardLibraryOnShortAndPrefixedBytes() {
        var random = SplitMix64(seed: 0xB17E_0DE5)
        // Few distinct bytes and short lengths, so that equal runs, prefixes and ties are common.
        func bytes() -> [UInt8] { (0..<Int(random.next() % 6)).map { _ in [0x00, 0x61, 0x62, 0x7F, 0x80, 0xFF][Int(random.next() % 6)] } }
        for _ in 0..<20_000 {
            let a = bytes()
            let b = random.next() % 4 == 0 ? a : bytes()
            a.withUnsafeBufferPointer { x in
                b.withUnsafeBufferPointer { y in
                    #expect(x.sameBytes(y) == a.elementsEqual(b), "\(a) \(b)")
                    #expect(x.precedes(y) == a.lexicographicallyPrecedes(b), "\(a) \(b)")
                }
            }
        }
    }

    @Test func matchesAStaticName() {
        for (text, same) in [("data", true), ("dat", false), ("datA", false), ("data ", false), ("", false)] {
            let bytes = Array(text.utf8)
            bytes.withUnsafeBufferPointer { #expect($0.sameBytes("data") == same, "\(text)") }
        }
    }
}

import IncidentModel
import Testing

/// `EventHash(hex:)` parses without a branch per digit; these pin what it accepts: exactly 64
/// lower-case hex digits.
@Suite struct EventHashHexTests {
    @Test func hexRoundTripsForRandomHashes() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            let h = EventHash(w0: rng.next(), w1: rng.next(), w2: rng.next(), w3: rng.next())
            #expect(EventHash(hex: h.hex) == h)
        }
        // The digits as the standard library writes them.
        for _ in 0..<2000 {
            let h = EventHash(w0: rng.next(), w1: rng.next() >> (rng.next() % 64), w2: 0xF0A9_0000_0000_0000 | rng.next() % 256, w3: rng.next())
            let words = [h.w0, h.w1, h.w2, h.w3].map { w -> String in
                let digits = String(w, radix: 16)
                return String(repeating: "0", count: 16 - digits.count) + digits
            }
            #expect(h.hex == words.joined())
        }
        #expect(EventHash(hex: String(repeating: "f", count: 64))?.hex == String(repeating: "f", count: 64))
        #expect(EventHash(hex: String(repeating: "0", count: 64)) == EventHash(w0: 0, w1: 0, w2: 0, w3: 0))
    }

    @Test func everyNonHexByteAtEveryPositionIsRefused() {
        let valid = Array("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".utf8)
        let hexDigits = Set("0123456789abcdef".utf8)
        for byte in UInt8.min...UInt8.max where !hexDigits.contains(byte) {
            for position in stride(from: byte % 4, to: 64, by: 4) {  // every position, spread over the bytes
                var hex = valid
                hex[Int(position)] = byte
                #expect(EventHash(hex: hex) == nil, "byte \(byte) at \(position)")
            }
        }
    }

    @Test func wrongLengthsAreRefused() {
        #expect(EventHash(hex: String(repeating: "a", count: 63)) == nil)
        #expect(EventHash(hex: String(repeating: "a", count: 65)) == nil)
        #expect(EventHash(hex: "") == nil)
    }
}

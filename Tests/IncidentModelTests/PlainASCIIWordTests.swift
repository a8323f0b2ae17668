@testable import IncidentModel
import Testing

/// The eight-bytes-at-a-time step of the string loops (`JSONParser.Cursor.skipString`, and
/// `writeString` of the canonical writer) against a byte-by-byte reference: how many bytes come
/// before the first that needs a look. The loops take that many as they are, so a count one too
/// high would let a quote, a backslash or a control character through.
@Suite struct PlainASCIIWordTests {
    static func reference(_ bytes: [UInt8]) -> Int {
        bytes.firstIndex { b in b < 0x20 || b >= 0x80 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") } ?? 8
    }

    static func plainBytes(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBufferPointer { JSONParser.Cursor.plainBytes(at: $0.baseAddress!) }
    }

    @Test func agreesWithTheByteLoopOnEveryByteInEveryPosition() {
        for position in 0..<8 {
            for byte in UInt8(0)...0xFF {
                // The byte among plain ones, and the byte before a run of bytes that all need a look.
                var among = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                among[position] = byte
                #expect(Self.plainBytes(among) == Self.reference(among), "byte \(byte) at \(position)")
                var before = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
                before[position] = byte
                for i in (position + 1)..<8 { before[i] = [0x00, 0x22, 0x5C, 0x80][i % 4] }
                #expect(Self.plainBytes(before) == Self.reference(before), "byte \(byte) at \(position), flagged bytes after")
            }
        }
    }

    @Test func agreesWithTheByteLoopOnRandomWords() {
        var rng = SplitMix64(seed: 20)
        // Bytes drawn mostly from the edges that matter: 0x00, 0x1F/0x20, quote, backslash, 0x7F/0x80.
        let edges: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7E, 0x7F, 0x80, 0xFF, 0x61]
        for _ in 0..<200_000 {
            let bytes = (0..<8).map { _ in
                rng.next() % 3 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : edges[Int(rng.next() % UInt64(edges.count))]
            }
            #expect(Self.plainBytes(bytes) == Self.reference(bytes), "\(bytes)")
        }
    }
}

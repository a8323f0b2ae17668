import IncidentModel
import Testing

@testable import Wire

/// Compact event lines leave out `id`, `hash` and, within a run, `prev`; restored, they are the
/// origin's bytes exactly, and an altered compact line no longer carries its origin's signature.
@Suite struct CompactEventLineTests {
    let key = NodeIdentity(privateKey: .init())

    /// A chain of one origin's events, some signed (every fourth and the last), with varied payloads.
    func chain(_ origin: String, count: Int, seed: UInt64) -> [Event] {
        var rng = SplitMix64(seed: seed)
        var events: [Event] = []
        for seq in 1...count {
            let text = String(repeating: "é\"x\\", count: Int(rng.next() % 4))
            let draft = Event.Draft(
                origin: origin, seq: UInt64(seq), prev: events.last?.hash, hlc: HLCTimestamp(wallMillis: 1_764_374_400_000 + UInt64(seq), counter: 0),
                recordedAtMillis: 1_764_374_400_000 + Int64(seq), type: "incident.reported", sector: "east",
                data: Array("{\"summary\":\"\(text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\",\"n\":\(rng.next() % 1000)}".utf8))
            let signed = seq % 4 == 0 || seq == count || rng.next() % 7 == 0
            events.append(Event.encode(draft, signer: signed ? key.privateKey : nil))
        }
        return events
    }

    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func restoresTheStoredBytesExactly(seed: UInt64) throws {
        // Two origins interleaved, and a message that starts in the middle of a chain.
        let a = chain("gao", count: 30, seed: seed)
        let b = chain("kidal", count: 30, seed: seed + 100)
        var lines: [[UInt8]] = []
        for i in 0..<30 {
            lines.append(a[i].line)
            if i % 3 == 0 { lines.append(b[i].line) }
        }
        for start in [0, 5, 17] {
            let message = Array(lines[start...])
            let compact = CompactEventLine.compact(message)
            #expect(compact.reduce(0) { $0 + $1.count } < message.reduce(0) { $0 + $1.count } - 70 * message.count)
            #expect(try CompactEventLine.restore(compact) == message)
        }
    }

    @Test func aWholeLineAmongCompactOnesIsKeptAndGivesTheNextItsPrev() throws {
        let a = chain("gao", count: 3, seed: 9)
        var compact = CompactEventLine.compact(a.map(\.line))
        compact[1] = a[1].line  // a sender may leave any line whole
        #expect(try CompactEventLine.restore(compact) == a.map(\.line))
    }

    @Test func anAlteredCompactLineNoLongerVerifies() throws {
        let a = chain("gao", count: 4, seed: 3)
        var compact = CompactEventLine.compact(a.map(\.line))
        // Change the payload of the first event: its restored hash changes, so does the chain.
        let text = String(decoding: compact[0], as: UTF8.self).replacingOccurrences(of: "\"n\":", with: "\"n\":9")
        compact[0] = Array(text.utf8)
        let restored = try CompactEventLine.restore(compact)
        let last = try Event.parse(line: restored[3])
        #expect(last.hash != a[3].hash)
        #expect(!last.signatureIsValid(publicKey: key.publicKey), "the origin's signature covers the original chain")
    }

    @Test func aCompactLineWithoutItsPredecessorIsRefused() {
        let a = chain("gao", count: 3, seed: 4)
        let compact = CompactEventLine.compact(a.map(\.line))
        #expect(throws: CompactEventLine.Failure.self) { try CompactEventLine.restore([compact[2]]) }
    }
}

import IncidentModel
import Testing

@_spi(Fuzzing) @testable import Wire

/// A long append read in parts on several threads (`ClientRequest.parallelAppendEvents`) gives
/// the events the one-thread reading gives, byte for byte, or nothing (and the request is then
/// read on one thread): never other events, whatever the guessed starts of the parts hit.
@Suite struct ParallelAppendTests {
    static let validator = EventValidator()
    static let prefix = #"{"op":"append","events":["#

    /// Events whose bytes hold what a guessed start can fall on: `},{` inside strings, escapes,
    /// non-ASCII text, nested objects, members in any order.
    static func event(_ i: Int, _ random: inout SplitMix64) -> String {
        let summaries = [
            "IED on RN16", #"ambush \"near\" Tessalit"#, "x},{", #"},{\"type\":\"incident.reported\"}"#,
            "rocket at Gao},{}], camp \u{00e0} l'est", #"\u0041\u00e9\ud83d\ude00 ok"#, String(repeating: "p", count: 1 + Int(random.next() % 300)),
        ]
        let summary = summaries[Int(random.next() % UInt64(summaries.count))]
        let place = random.next() % 4 == 0 ? "Gao},{" : "Gao"
        // Half of the payloads in canonical form (members in key order), as this project's
        // clients send them, which the node checks in one walk and stores as they came; the
        // others written in canonical form first.
        let data =
            random.next() % 2 == 0
            ? #"{"summary":"\#(summary)","occurred_at":"2026-11-29T04:00:00Z","incident_id":"i-\#(i)","category":"ied","#
                + #""location":{"precision":"exact","name":"\#(place)","lon":-0.04,"lat":16.27}}"#
            : #"{"category":"ied","incident_id":"i-\#(i)","location":{"lat":16.27,"lon":-0.04,"name":"\#(place)","precision":"exact"},"#
                + #""occurred_at":"2026-11-29T04:00:00Z","summary":"\#(summary)"}"#
        switch random.next() % 3 {
        case 0: return #"{"type":"incident.reported","sector":"east","data":\#(data)}"#
        case 1: return #"{"data":\#(data),"sector":"east","type":"incident.reported"}"#
        default: return #"{"sector":"east","data":\#(data),"type":"incident.reported"}"#
        }
    }

    /// The events the whole reading gives (`parseWhole`), or with `threads` the public entry,
    /// which reads the request in parts when it can; as `bytes` each.
    static func parsed(_ line: [UInt8], maximumEvents: Int = 10_000, threads: Int? = nil) -> Result<[[UInt8]], WireError> {
        line.withUnsafeBufferPointer { buffer in
            Result { () throws(WireError) in
                let request =
                    if let threads {
                        try ClientRequest.parse(line: buffer, validator: validator, maximumEvents: maximumEvents, threads: threads)
                    } else {
                        try ClientRequest.parseWhole(line: buffer, validator: validator, maximumEvents: maximumEvents)
                    }
                guard case .append(let events) = request else { throw WireError(.invalidRequest, "not an append") }
                return events.map(Self.bytes)
            }
        }
    }

    static func bytes(_ event: NewEvent) -> [UInt8] { Array("\(event.type.rawValue)|\(event.sector)|".utf8) + event.canonicalData }

    @Test func theEventsAreThoseOfTheOneThreadReading() throws {
        var random = SplitMix64(seed: 0x9A2A_11E1)
        var readInParts = 0
        for round in 0..<300 {
            let count = 1 + Int(random.next() % 120)
            let line = Array((Self.prefix + (0..<count).map { Self.event($0, &random) }.joined(separator: ",") + "]}").utf8)
            let expected = try Self.parsed(line).get()
            let threads = 2 + Int(random.next() % 7)
            let bytesPerThread = 64 + Int(random.next() % UInt64(line.count / 2))
            let parts = line.withUnsafeBufferPointer {
                ClientRequest.parallelAppendEvents(
                    line: $0, validator: Self.validator, maximumEvents: 10_000, threads: threads, bytesPerThread: bytesPerThread)
            }
            if let parts {
                readInParts += 1
                guard parts.count == expected.count, zip(parts, expected).allSatisfy({ Self.bytes($0) == $1 }) else {
                    Issue.record("round \(round): the parts gave other events than one thread")
                    return
                }
            }
            // Through the public entry, always the same events: in parts, and as one part.
            #expect(try Self.parsed(line, threads: threads).get() == expected)
            #expect(try Self.parsed(line, threads: 1).get() == expected)
        }
        // The parts were read most of the time, not only left to the one thread.
        #expect(readInParts > 150)
    }

    /// A guess that falls on `},{` inside a string is not trusted: the first part reads past it.
    @Test func aGuessInsideAStringIsRefused() throws {
        var random = SplitMix64(seed: 7)
        let padded =
            #"{"type":"incident.reported","sector":"east","data":{"summary":"\#(String(repeating: "a", count: 2000))},{","#
            + #""occurred_at":"2026-11-29T04:00:00Z","incident_id":"i-0","category":"ied","#
            + #""location":{"precision":"exact","name":"Gao","lon":-0.04,"lat":16.27}}}"#
        let line = Array((Self.prefix + padded + "," + Self.event(1, &random) + "]}").utf8)
        // Two parts, the second guessed at the line's middle: inside the summary.
        let guess = line.withUnsafeBufferPointer {
            ClientRequest.parallelAppendEvents(line: $0, validator: Self.validator, maximumEvents: 10, threads: 2, bytesPerThread: 100)
        }
        #expect(guess == nil)
        #expect(try Self.parsed(line).get().count == 2)
    }

    /// A part is trusted only when it ends exactly where the next one was guessed to start: one
    /// that reads past it (the guess fell inside an event) gives nothing, so the next part's
    /// reading, whatever it made of the bytes, is never used.
    @Test func aPartThatReadsPastTheNextStartGivesNothing() throws {
        var random = SplitMix64(seed: 11)
        let events = (0..<3).map { Self.event($0, &random) }
        let line = Array((Self.prefix + events.joined(separator: ",") + "]}").utf8)
        let first = Self.prefix.utf8.count
        let second = first + events[0].utf8.count + 1
        let close = line.count - 2
        func part(_ start: Int, _ end: Int?) -> Int? {
            line.withUnsafeBufferPointer {
                ClientRequest.readPart($0, from: start, to: end, close: close, validator: Self.validator, maximumEvents: 10)?.count
            }
        }
        #expect(part(first, second) == 1)
        #expect(part(second, nil) == 2)
        #expect(part(first, nil) == 3)
        // Guessed inside the second event: the first part reads the second whole and passes it.
        #expect(part(first, second + 10) == nil)
        // The last part must end at the closing bracket.
        #expect(part(first, close + 1) == nil)
    }

    /// A request the one-thread reading refuses is never read in parts (its refusal, code,
    /// message and offset, comes from the one-thread reading): a bad event in any part, broken
    /// JSON, too many events.
    @Test func whatOneThreadRefusesIsNotReadInParts() {
        var random = SplitMix64(seed: 0x0BAD)
        let alphabet = Array(#"{}[]":,\ e0."#.utf8) + [0x00, 0xC3, 0xFF]
        var refused = 0
        for round in 0..<400 {
            let count = 2 + Int(random.next() % 60)
            var line = Array((Self.prefix + (0..<count).map { Self.event($0, &random) }.joined(separator: ",") + "]}").utf8)
            let at = Self.prefix.utf8.count + Int(random.next() % UInt64(line.count - Self.prefix.utf8.count))
            line[at] = alphabet[Int(random.next() % UInt64(alphabet.count))]
            let maximum = random.next() % 4 == 0 ? count - 1 : 10_000
            let one = Self.parsed(line, maximumEvents: maximum)
            let parts = line.withUnsafeBufferPointer {
                ClientRequest.parallelAppendEvents(
                    line: $0, validator: Self.validator, maximumEvents: maximum, threads: 2 + Int(random.next() % 4), bytesPerThread: 64)
            }
            // The public entry refuses what the whole reading refuses, with the same words; a
            // short request is read as one part there.
            switch (one, Self.parsed(line, maximumEvents: maximum, threads: 1)) {
            case (.failure(let a), .failure(let b)): #expect(a.code == b.code && a.message == b.message)
            case (.success(let a), .success(let b)): #expect(a == b)
            case (let a, let b): Issue.record("round \(round): the whole reading gives \(a), the public entry \(b)")
            }
            switch (one, parts) {
            case (.failure, nil): refused += 1
            case (.failure(let error), .some):
                Issue.record("round \(round): one thread refuses (\(error.code.rawValue) \(error.message)), the parts accept")
                return
            case (.success(let a), .some(let b)):
                #expect(a == b.map(Self.bytes))
            case (.success, nil): break
            }
        }
        // (That the parts are read at all is `theEventsAreThoseOfTheOneThreadReading`'s to show.)
        #expect(refused > 150)
    }
}

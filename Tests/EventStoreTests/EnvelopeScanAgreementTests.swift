@testable import IncidentModel
import Testing

/// Recovery and the projection rebuild read lines with `EventEnvelope`, which is also the grammar
/// under `Event.parse`. These properties hold it to the parser it replaced (kept below, verbatim
/// but for names, as the reference): on valid lines and on lines damaged in every way the tests
/// below can think of, both accept the same lines with the same members and refuse the others
/// with the same error; the tail-shortcut reading (`checkingData: false`) accepts every line the
/// full reading accepts, with the same ranges.
@Suite struct EnvelopeScanAgreementTests {
    /// Valid lines of every shape: seq 1 and later, with and without sig, data with strings that
    /// look like the envelope's tail, escapes, non-ASCII text, and envelope strings with escapes.
    static func sampleLines(seed: UInt64, count: Int) -> [[UInt8]] {
        var rng = SplitMix64(seed: seed)
        let key = NodeIdentity(privateKey: .init()).privateKey
        let hash = EventHash(w0: 0x0123_4567_89AB_CDEF, w1: 0xFEDC_BA98_7654_3210, w2: 42, w3: 7)
        let datas = [
            #"{}"#,
            #"{"incident_id":"i-1","reason":"test"}"#,
            #"{"a":[1,2.5e3,-0.5,true,false,null],"b":{"c":"d\"e\\f\n\u0001"},"z":"Tombouctou é ✓"}"#,
            // A payload whose end reads like an envelope tail (a key named hash, a sig-shaped string).
            #"{"x":",\"hash\":\"","y":"\",\"sig\":\"","hash":"\#(hash.hex)","sig":"\#(String(repeating: "A", count: 86))=="}"#,
            #"{"hash":"\#(hash.hex)"}"#,
            // Ends like the signed tail of a line (`},"hash":"<64 hex>","sig":"…"}`, 172 bytes from
            // the end of an unsigned line), with a sig that is not one: the shortcut must read in full.
            #"{"a":{},"hash":"\#(hash.hex)","sig":"abcdefghijklm"}"#,
        ]
        var lines: [[UInt8]] = []
        for n in 0..<count {
            let seq = rng.next() % 3 == 0 ? 1 : rng.next() % 100_000 + 2
            let draft = Event.Draft(
                origin: ["gao", "bamako-hq", "k_1", "a"][Int(rng.next() % 4)], seq: seq, prev: seq == 1 ? nil : hash,
                hlc: HLCTimestamp(wallMillis: rng.next() % 2_000_000_000_000, counter: UInt32(rng.next() % 3)),
                recordedAtMillis: Int64(rng.next() % 2_000_000_000_000), type: "incident.reported",
                sector: ["east", "north", "nord-é"][Int(rng.next() % 3)],
                data: try! JSONParser.parse(Array(datas[n % datas.count].utf8)).canonicalBytes)
            var line = Event.encode(draft, signer: rng.next() % 2 == 0 ? key : nil).line
            if n % 7 == 3 {
                // Escapes in envelope strings: valid JSON, the same values, other bytes.
                line = replacing(#""sector":"e"#, with: #""sector":"\u0065"#, in: line)
                line = replacing(#"{"origin":"g"#, with: #"{"origin":"\u0067"#, in: line)
                line = replacing(#","type":"incident."#, with: #","type":"incident\u002e"#, in: line)
            }
            lines.append(line)
        }
        return lines
    }

    static func replacing(_ a: String, with b: String, in line: [UInt8]) -> [UInt8] {
        let x = Array(a.utf8)
        guard let i = (0...(line.count - x.count)).first(where: { line[$0..<($0 + x.count)].elementsEqual(x) }) else {
            return line
        }
        return Array(line[..<i]) + Array(b.utf8) + Array(line[(i + x.count)...])
    }

    /// Damaged copies of a line: bit flips, bytes replaced by structural characters, deletions,
    /// insertions, truncations.
    static func damaged(_ line: [UInt8], rng: inout SplitMix64, count: Int) -> [[UInt8]] {
        let specials: [UInt8] = Array(#""\,:{}[]0123456789abcdefxyz-=+/ "#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xFF]
        var out: [[UInt8]] = []
        for _ in 0..<count {
            var l = line
            let i = Int(rng.next() % UInt64(l.count))
            switch rng.next() % 5 {
            case 0: l[i] ^= UInt8(1 << (rng.next() % 8))
            case 1: l[i] = specials[Int(rng.next() % UInt64(specials.count))]
            case 2: l.remove(at: i)
            case 3: l.insert(specials[Int(rng.next() % UInt64(specials.count))], at: i)
            default: l = Array(l[..<i])
            }
            out.append(l)
        }
        return out
    }

    @Test func envelopeAndEventParseAgreeWithTheReferenceParserOnValidAndDamagedLines() throws {
        var rng = SplitMix64(seed: 7)
        var accepted = 0
        var refused = 0
        for line in Self.sampleLines(seed: 1, count: 60) {
            for candidate in [line] + Self.damaged(line, rng: &rng, count: 150) {
                let reference = Result { () throws(EventParseError) in try referenceParse(candidate) }
                let parsed = Result { () throws(EventParseError) in try Event.parse(line: candidate) }
                let shortcut = candidate.withUnsafeBufferPointer { b in
                    Result { () throws(EventParseError) in try EventEnvelope(scanning: b, checkingData: false) }
                }
                let text = String(decoding: candidate, as: UTF8.self)
                switch (reference, parsed) {
                case (.success(let r), .success(let e)):
                    accepted += 1
                    #expect(r.origin == e.origin && r.seq == e.seq && r.prev == e.prev && r.hlc == e.hlc, "\(text)")
                    #expect(r.recordedAt == e.recordedAt && r.type == e.type && r.sector == e.sector, "\(text)")
                    #expect(r.dataRange == e.dataRange && r.hash == e.hash && r.signature == e.signature, "\(text)")
                    #expect(r.hashedPrefixEnd == e.hashedPrefixEnd, "\(text)")
                    let full = try candidate.withUnsafeBufferPointer { try EventEnvelope(scanning: $0, checkingData: true) }
                    #expect((try? shortcut.get()) == full, "the tail shortcut differs on \(text)")
                    #expect(full.recordedMillis == RFC3339.parseMillis(r.recordedAt), "\(text)")
                case (.failure(let r), .failure(let e)):
                    refused += 1
                    #expect(r == e, "\(text)")
                default:
                    Issue.record("reference \(reference), Event.parse \(parsed) on \(text)")
                }
            }
        }
        // Both kinds were exercised.
        #expect(accepted > 100 && refused > 1000, "accepted \(accepted), refused \(refused)")
    }

    @Test func tailShortcutFallsBackWhenDataEndsLikeATail() throws {
        // data's own last members read as `},"hash":"<64 hex>","sig":"…"}` 172 bytes from the end,
        // but the line has no sig: the shortcut finds a tail there that does not parse (a 13-byte
        // sig), and reads the line in full.
        let hex = EventHash(w0: 1, w1: 2, w2: 3, w3: 4).hex
        let data = #"{"a":{},"hash":"\#(hex)","sig":"abcdefghijklm"}"#
        let draft = Event.Draft(
            origin: "gao", seq: 1, prev: nil, hlc: HLCTimestamp(wallMillis: 1, counter: 0), recordedAtMillis: 1,
            type: "incident.closed", sector: "east", data: try JSONParser.parse(Array(data.utf8)).canonicalBytes)
        let line = Event.encode(draft, signer: nil).line
        let tail = Array(line[(line.count - 172)...])
        #expect(String(decoding: tail.prefix(9), as: UTF8.self) == #","hash":""#, "the trap is not set")
        let full = try line.withUnsafeBufferPointer { try EventEnvelope(scanning: $0, checkingData: true) }
        let shortcut = try line.withUnsafeBufferPointer { try EventEnvelope(scanning: $0, checkingData: false) }
        #expect(full == shortcut)
        #expect(full.hashMatches(in: line.withUnsafeBufferPointer { $0 }))
    }

    @Test func hexDigitsAgreeWithHexOnEveryByteAtEveryPosition() {
        let valid = Array(EventHash(w0: 0x0123_4567_89AB_CDEF, w1: 0xFEDC_BA98_7654_3210, w2: 0xA5A5, w3: 0).hex.utf8)
        for position in 0..<64 {
            for byte in 0...255 {
                var digits = valid
                digits[position] = UInt8(byte)
                let fast = digits.withUnsafeBufferPointer { EventHash(hexDigits: $0.baseAddress!) }
                #expect(fast == EventHash(hex: digits), "byte \(byte) at \(position)")
            }
        }
        var rng = SplitMix64(seed: 3)
        for _ in 0..<2000 {
            let h = EventHash(w0: rng.next(), w1: rng.next(), w2: rng.next(), w3: rng.next())
            let digits = Array(h.hex.utf8)
            #expect(digits.withUnsafeBufferPointer { EventHash(hexDigits: $0.baseAddress!) } == h)
        }
    }

    @Test func base64DecodedCountAgreesWithDecode() {
        var rng = SplitMix64(seed: 5)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let others = Array("=-_.\" \n".utf8) + [0x00, 0x80, 0xFF]
        for _ in 0..<20_000 {
            let n = Int(rng.next() % 96)
            var text: [UInt8] = (0..<n).map { _ in
                rng.next() % 20 == 0 ? others[Int(rng.next() % UInt64(others.count))] : alphabet[Int(rng.next() % 64)]
            }
            if n >= 2, rng.next() % 3 == 0 { text[n - 1] = UInt8(ascii: "=") }
            if n >= 2, rng.next() % 4 == 0 { text[n - 2] = UInt8(ascii: "=") }
            let counted = text.withUnsafeBufferPointer { Base64.decodedCount($0) }
            #expect(counted == Base64.decode(text)?.count, "\(String(decoding: text, as: UTF8.self))")
        }
    }
}

/// A parse of a line through `JSONParser` alone, independent of `EventEnvelope`'s scan: the reference the properties above compare to.
private func referenceParse(_ line: [UInt8]) throws(EventParseError) -> (
    origin: String, seq: UInt64, prev: EventHash?, hlc: HLCTimestamp, recordedAt: String, type: String, sector: String,
    dataRange: Range<Int>, hash: EventHash, signature: [UInt8]?, hashedPrefixEnd: Int
) {
    try line.withUnsafeBufferPointer { buffer throws(EventParseError) in
        var s = EnvelopeScanner(bytes: buffer)
        try s.literal("{\"origin\":")
        let origin = try s.string()
        guard NodeID.isValid(origin) else { throw s.fail("invalid origin") }
        try s.literal(",\"seq\":")
        let seq = try s.unsigned()
        guard seq >= 1 else { throw s.fail("seq must be at least 1") }
        try s.literal(",\"id\":")
        let idStart = s.index
        guard referenceIDMatches(&s, origin: origin, seq: seq) else {
            throw EventParseError(offset: idStart, reason: "id is not origin:seq")
        }
        var prev: EventHash? = nil
        if s.peek(",\"prev\":") {
            try s.literal(",\"prev\":\"")
            guard s.index + 64 < buffer.count, let p = EventHash(hex: UnsafeBufferPointer(rebasing: buffer[s.index..<(s.index + 64)]))
            else { throw s.fail("invalid prev") }
            prev = p
            s.index += 64
            try s.literal("\"")
        }
        guard (prev == nil) == (seq == 1) else { throw s.fail(seq == 1 ? "seq 1 has no prev" : "prev required") }
        try s.literal(",\"hlc\":\"")
        let hlcStart = s.index
        while s.index < buffer.count, buffer[s.index] != UInt8(ascii: "\"") { s.index += 1 }
        guard let hlc = HLCTimestamp(utf8: UnsafeBufferPointer(rebasing: buffer[hlcStart..<s.index])) else {
            throw EventParseError(offset: hlcStart, reason: "invalid hlc")
        }
        try s.literal("\",\"recorded_at\":")
        let recordedStart = s.index
        let recordedAt = try s.string()
        guard RFC3339.parseMillis(recordedAt) != nil else {
            throw EventParseError(offset: recordedStart, reason: "invalid recorded_at")
        }
        try s.literal(",\"type\":")
        let type = try s.string()
        try s.literal(",\"sector\":")
        let sector = try s.string()
        try s.literal(",\"data\":")
        let dataStart = s.index
        let dataEnd: Int
        do throws(JSONParser.Error) {
            dataEnd = try JSONParser.skipValue(in: buffer, from: dataStart)
        } catch {
            throw EventParseError(offset: error.offset, reason: "data: \(error.reason)")
        }
        guard dataStart < buffer.count, buffer[dataStart] == UInt8(ascii: "{") else {
            throw EventParseError(offset: dataStart, reason: "data must be an object")
        }
        s.index = dataEnd
        let prefixEnd = s.index
        try s.literal(",\"hash\":\"")
        guard s.index + 64 < buffer.count,
            let hash = EventHash(hex: UnsafeBufferPointer(rebasing: buffer[s.index..<(s.index + 64)]))
        else { throw s.fail("invalid hash") }
        s.index += 64
        try s.literal("\"")
        var signature: [UInt8]? = nil
        if s.peek(",\"sig\":\"") {
            try s.literal(",\"sig\":\"")
            let sigStart = s.index
            while s.index < buffer.count, buffer[s.index] != UInt8(ascii: "\"") { s.index += 1 }
            guard let sig = Base64.decode(UnsafeBufferPointer(rebasing: buffer[sigStart..<s.index])), sig.count == 64 else {
                throw EventParseError(offset: sigStart, reason: "invalid sig")
            }
            signature = sig
            try s.literal("\"")
        }
        try s.literal("}")
        guard s.index == buffer.count else { throw s.fail("unexpected data after the event") }
        return (origin, seq, prev, hlc, recordedAt, type, sector, dataStart..<dataEnd, hash, signature, prefixEnd)
    }
}

private func referenceIDMatches(_ s: inout EnvelopeScanner, origin: String, seq: UInt64) -> Bool {
    let bytes = s.bytes
    var i = s.index
    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return false }
    i += 1
    for c in origin.utf8 {
        guard i < bytes.count, bytes[i] == c else { return false }
        i += 1
    }
    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
    i += 1
    let digitsStart = i
    while i < bytes.count, bytes[i] >= 0x30 && bytes[i] <= 0x39 { i += 1 }
    guard let v = HLCTimestamp.parseDecimal(UnsafeBufferPointer(rebasing: bytes[digitsStart..<i]), max: UInt64(Int64.max)),
        v == seq, i < bytes.count, bytes[i] == UInt8(ascii: "\"")
    else { return false }
    s.index = i + 1
    return true
}

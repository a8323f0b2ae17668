extension Event {
    /// Reads a line written by `encode`. Strict: members in canonical order, no whitespace,
    /// `id` equal to `origin:seq`, `prev` present exactly when seq > 1. It does not check the
    /// hash (see `hashIsValid`): recovery, ingest and reads decide what to check.
    public static func parse(line: [UInt8]) throws(EventParseError) -> Event {
        try line.withUnsafeBufferPointer { buffer throws(EventParseError) in
            var s = EnvelopeScanner(bytes: buffer)
            try s.literal("{\"origin\":")
            let origin = try s.string()
            guard NodeID.isValid(origin) else { throw s.fail("invalid origin") }
            try s.literal(",\"seq\":")
            let seq = try s.unsigned()
            guard seq >= 1 else { throw s.fail("seq must be at least 1") }
            try s.literal(",\"id\":")
            // The id must be exactly "<origin>:<seq>"; compared byte for byte, without building it.
            let idStart = s.index
            guard s.idMatches(origin: origin, seq: seq) else { throw EventParseError(offset: idStart, reason: "id is not origin:seq") }
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
            return Event(
                line: line, origin: origin, seq: seq, prev: prev, hlc: hlc, recordedAt: recordedAt, type: type,
                sector: sector, dataRange: dataStart..<dataEnd, hash: hash, signature: signature,
                hashedPrefixEnd: prefixEnd)
        }
    }
}

/// A cursor for the fixed member order of an event line.
struct EnvelopeScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    func fail(_ reason: String) -> EventParseError { EventParseError(offset: index, reason: reason) }

    func peek(_ lit: StaticString) -> Bool {
        let n = lit.utf8CodeUnitCount
        guard index + n <= bytes.count else { return false }
        let p = lit.utf8Start
        for i in 0..<n where bytes[index + i] != p[i] { return false }
        return true
    }

    mutating func literal(_ lit: StaticString) throws(EventParseError) {
        guard peek(lit) else { throw fail("expected \(lit)") }
        index += lit.utf8CodeUnitCount
    }

    mutating func string() throws(EventParseError) -> String {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected string") }
        var cursor = JSONParser.Cursor(bytes: bytes, index: index)
        do throws(JSONParser.Error) {
            let s = try cursor.parseString()
            index = cursor.index
            return s
        } catch {
            throw EventParseError(offset: error.offset, reason: error.reason)
        }
    }

    /// Consumes `"<origin>:<seq>"` when the bytes are exactly that.
    mutating func idMatches(origin: String, seq: UInt64) -> Bool {
        var i = index
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
        guard let v = HLCTimestamp.parseDecimal(UnsafeBufferPointer(rebasing: bytes[digitsStart..<i]), max: UInt64(Int64.max)), v == seq,
            i < bytes.count, bytes[i] == UInt8(ascii: "\"")
        else { return false }
        index = i + 1
        return true
    }

    mutating func unsigned() throws(EventParseError) -> UInt64 {
        let start = index
        while index < bytes.count, bytes[index] >= 0x30 && bytes[index] <= 0x39 { index += 1 }
        guard let v = HLCTimestamp.parseDecimal(UnsafeBufferPointer(rebasing: bytes[start..<index]), max: UInt64(Int64.max))
        else { throw EventParseError(offset: start, reason: "expected an unsigned integer") }
        return v
    }
}

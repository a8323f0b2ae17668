// The envelope of an event line, read in place (the line format is at the top of Event.swift).
//
// `Event.parse` builds an `Event` (strings, arrays) from a line; recovery, which checks every
// line of the log on open, and the projection rebuild, which folds every line, need only the
// positions and numbers of the envelope. `EventEnvelope` is that reading, without an allocation
// for the common line, and it is the one grammar of a line: `Event.parse` is this scan plus the
// building of the `Event`, so both accept exactly the same lines and report the same errors.
//
// - Strings of the envelope (origin, recorded_at, type, sector) are read in place when they are
//   plain printable ASCII without escapes (every line this project writes). Anything else takes
//   the decoding parser (`JSONParser`), and the envelope says so (`hasEscapedStrings`):
//   its byte ranges then hold the JSON text, not the value, and readers that compare bytes must
//   decode (`decodedString`).
// - `data` is checked in full (`checkingData: true`, JSON syntax as `JSONParser.skipValue`), or
//   found from the fixed tail of the line (`checkingData: false`): `,"hash":"<64 hex>"`, then
//   optionally `,"sig":"<88 base64>"`, then `}`. Base64 of 64 bytes is always 88 characters and
//   holds no `,` or `"`, so the tail is unambiguous from the end. The second form accepts every
//   line the first accepts, with the same ranges; it does not look inside `data`, so use it only
//   on lines whose syntax was checked before (the projection fold reads lines the store checked
//   when it opened or wrote them; the fold's payload reader is bounds-checked anyway).

/// The envelope members of one event line, as positions in the line and parsed numbers.
public struct EventEnvelope: Sendable, Equatable {
    /// Contents (between the quotes) of the string members.
    public var origin: Range<Int>
    public var seq: UInt64
    public var prev: EventHash?
    public var hlc: HLCTimestamp
    public var recordedAt: Range<Int>
    /// `recorded_at` in milliseconds since the epoch.
    public var recordedMillis: Int64
    public var type: Range<Int>
    public var sector: Range<Int>
    /// The `data` object, braces included.
    public var data: Range<Int>
    public var hash: EventHash
    /// The base64 text of `sig` (without quotes), when present.
    public var signature: Range<Int>?
    /// True when origin, recorded_at, type or sector is not plain ASCII without escapes: their
    /// ranges then cover JSON text that differs from (or may differ from) the value.
    public var hasEscapedStrings: Bool

    /// Where the hashed prefix ends: the index of `,"hash":`.
    public var hashedPrefixEnd: Int { data.upperBound }

    /// Reads the envelope of `line` (without its newline). Strict, as `Event.parse`: members in
    /// canonical order, no whitespace, `id` = `origin:seq`, `prev` exactly when seq > 1. The hash
    /// is parsed, not checked (see `hashMatches`).
    public init(scanning line: UnsafeBufferPointer<UInt8>, checkingData: Bool = true) throws(EventParseError) {
        if !checkingData, let shortcut = try? Self(line, dataFromTail: true) {
            self = shortcut
            return
        }
        // Data walked in full, and the errors of the one grammar. (A tail found from the end
        // that does not read as one, which a crafted `data` can produce, lands here too.)
        self = try Self(line, dataFromTail: false)
    }

    private init(_ line: UnsafeBufferPointer<UInt8>, dataFromTail: Bool) throws(EventParseError) {
        var s = EnvelopeScanner(bytes: line)
        var escaped = false
        try s.literal("{\"origin\":")
        let originToken = try s.stringToken()
        escaped = escaped || !originToken.plain
        let originValid: Bool
        var decodedOrigin: [UInt8] = []
        if originToken.plain {
            originValid = NodeID.isValid(utf8: UnsafeBufferPointer(rebasing: line[originToken.content]))
        } else {
            decodedOrigin = Array(Self.decodedString(originToken.content, in: line).utf8)
            originValid = decodedOrigin.withUnsafeBufferPointer { NodeID.isValid(utf8: $0) }
        }
        guard originValid else { throw s.fail("invalid origin") }
        try s.literal(",\"seq\":")
        let seq = try s.unsigned()
        guard seq >= 1 else { throw s.fail("seq must be at least 1") }
        try s.literal(",\"id\":")
        let idStart = s.index
        let idOK =
            originToken.plain
            ? s.idMatches(originUTF8: UnsafeBufferPointer(rebasing: line[originToken.content]), seq: seq)
            : decodedOrigin.withUnsafeBufferPointer { s.idMatches(originUTF8: $0, seq: seq) }
        guard idOK else { throw EventParseError(offset: idStart, reason: "id is not origin:seq") }
        var prev: EventHash? = nil
        if s.peek(",\"prev\":") {
            try s.literal(",\"prev\":\"")
            guard s.index + 64 < line.count, let p = EventHash(hexDigits: line.baseAddress! + s.index) else {
                throw s.fail("invalid prev")
            }
            prev = p
            s.index += 64
            try s.literal("\"")
        }
        guard (prev == nil) == (seq == 1) else { throw s.fail(seq == 1 ? "seq 1 has no prev" : "prev required") }
        try s.literal(",\"hlc\":\"")
        let hlcStart = s.index
        while s.index < line.count, line[s.index] != UInt8(ascii: "\"") { s.index += 1 }
        guard let hlc = HLCTimestamp(utf8: UnsafeBufferPointer(rebasing: line[hlcStart..<s.index])) else {
            throw EventParseError(offset: hlcStart, reason: "invalid hlc")
        }
        try s.literal("\",\"recorded_at\":")
        let recordedStart = s.index
        let recordedToken = try s.stringToken()
        escaped = escaped || !recordedToken.plain
        let millis: Int64?
        if recordedToken.plain {
            millis = RFC3339.parseMillis(utf8: UnsafeBufferPointer(rebasing: line[recordedToken.content]))
        } else {
            millis = RFC3339.parseMillis(Self.decodedString(recordedToken.content, in: line))
        }
        guard let millis else { throw EventParseError(offset: recordedStart, reason: "invalid recorded_at") }
        try s.literal(",\"type\":")
        let typeToken = try s.stringToken()
        try s.literal(",\"sector\":")
        let sectorToken = try s.stringToken()
        escaped = escaped || !typeToken.plain || !sectorToken.plain
        try s.literal(",\"data\":")
        let dataStart = s.index
        var dataEnd: Int? = nil
        if dataFromTail {
            dataEnd = Self.dataEndFromTail(line, dataStart: dataStart)
            guard dataEnd != nil else { throw s.fail("no event tail") }
        } else {
            do throws(JSONParser.Error) {
                dataEnd = try JSONParser.skipValue(in: line, from: dataStart)
            } catch {
                throw EventParseError(offset: error.offset, reason: "data: \(error.reason)")
            }
        }
        guard dataStart < line.count, line[dataStart] == UInt8(ascii: "{"), let dataEnd else {
            throw EventParseError(offset: dataStart, reason: "data must be an object")
        }
        s.index = dataEnd
        try s.literal(",\"hash\":\"")
        guard s.index + 64 < line.count, let hash = EventHash(hexDigits: line.baseAddress! + s.index) else {
            throw s.fail("invalid hash")
        }
        s.index += 64
        try s.literal("\"")
        var signature: Range<Int>? = nil
        if s.peek(",\"sig\":\"") {
            try s.literal(",\"sig\":\"")
            let sigStart = s.index
            while s.index < line.count, line[s.index] != UInt8(ascii: "\"") { s.index += 1 }
            guard Base64.decodedCount(UnsafeBufferPointer(rebasing: line[sigStart..<s.index])) == 64 else {
                throw EventParseError(offset: sigStart, reason: "invalid sig")
            }
            signature = sigStart..<s.index
            try s.literal("\"")
        }
        try s.literal("}")
        guard s.index == line.count else { throw s.fail("unexpected data after the event") }
        self.origin = originToken.content
        self.seq = seq
        self.prev = prev
        self.hlc = hlc
        self.recordedAt = recordedToken.content
        self.recordedMillis = millis
        self.type = typeToken.content
        self.sector = sectorToken.content
        self.data = dataStart..<dataEnd
        self.hash = hash
        self.signature = signature
        self.hasEscapedStrings = escaped
    }

    /// Where `data` ends when the line ends in one of the two fixed tails (see the top of the
    /// file), or nil (the caller then walks `data`).
    static func dataEndFromTail(_ line: UnsafeBufferPointer<UInt8>, dataStart: Int) -> Int? {
        let n = line.count
        func has(_ literal: StaticString, at i: Int) -> Bool {
            let k = literal.utf8CodeUnitCount
            guard i >= 0, i + k <= n else { return false }
            return memcmp(line.baseAddress! + i, literal.utf8Start, k) == 0
        }
        // ,"hash":"<64>","sig":"<88>"}  is 172 bytes; ,"hash":"<64>"}  is 75.
        let tailStart: Int
        if has(",\"hash\":\"", at: n - 172), has("\",\"sig\":\"", at: n - 99), has("\"}", at: n - 2) {
            tailStart = n - 172
        } else if has(",\"hash\":\"", at: n - 75), has("\"}", at: n - 2) {
            tailStart = n - 75
        } else {
            return nil
        }
        // data is at least `{}` and ends with its closing brace.
        guard tailStart >= dataStart + 2, line[tailStart - 1] == UInt8(ascii: "}") else { return nil }
        return tailStart
    }

    /// Recomputes the hash from the line's bytes and compares it with the stated one.
    public func hashMatches(in line: UnsafeBufferPointer<UInt8>) -> Bool {
        Event.computeHash(prefix: UnsafeBufferPointer(rebasing: line[..<hashedPrefixEnd])) == hash
    }

    /// The value of a string member whose contents are `content` (a range this envelope gave).
    public static func decodedString(_ content: Range<Int>, in line: UnsafeBufferPointer<UInt8>) -> String {
        var cursor = JSONParser.Cursor(bytes: line, index: content.lowerBound - 1)
        // The scan already decoded it once; it cannot fail here.
        return (try? cursor.parseString()) ?? String(decoding: UnsafeBufferPointer(rebasing: line[content]), as: UTF8.self)
    }

    /// The value of a string member: in place when plain, decoded otherwise.
    public func string(_ content: Range<Int>, in line: UnsafeBufferPointer<UInt8>) -> String {
        hasEscapedStrings
            ? Self.decodedString(content, in: line)
            : String(decoding: UnsafeBufferPointer(rebasing: line[content]), as: UTF8.self)
    }
}

extension EnvelopeScanner {
    /// Reads a string member at `index`. Plain printable ASCII without escapes is taken in place;
    /// anything else goes through `JSONParser`'s decoder, which gives the same acceptance and
    /// errors as `string()`.
    mutating func stringToken() throws(EventParseError) -> (content: Range<Int>, plain: Bool) {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected string") }
        let start = index + 1
        var i = start
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                index = i + 1
                return (start..<i, true)
            }
            if c < 0x20 || c >= 0x7F || c == UInt8(ascii: "\\") { break }
            i += 1
        }
        var cursor = JSONParser.Cursor(bytes: bytes, index: index)
        do throws(JSONParser.Error) {
            _ = try cursor.parseString()
        } catch {
            throw EventParseError(offset: error.offset, reason: error.reason)
        }
        index = cursor.index
        return (start..<(cursor.index - 1), false)
    }

    /// Consumes `"<origin>:<seq>"` when the bytes are exactly that.
    mutating func idMatches(originUTF8 origin: UnsafeBufferPointer<UInt8>, seq: UInt64) -> Bool {
        var i = index
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return false }
        i += 1
        guard i + origin.count <= bytes.count, memcmp(bytes.baseAddress! + i, origin.baseAddress!, origin.count) == 0
        else { return false }
        i += origin.count
        guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
        i += 1
        let digitsStart = i
        while i < bytes.count, bytes[i] >= 0x30 && bytes[i] <= 0x39 { i += 1 }
        guard let v = HLCTimestamp.parseDecimal(UnsafeBufferPointer(rebasing: bytes[digitsStart..<i]), max: UInt64(Int64.max)),
            v == seq, i < bytes.count, bytes[i] == UInt8(ascii: "\"")
        else { return false }
        index = i + 1
        return true
    }
}

extension NodeID {
    /// `isValid` on UTF-8 bytes.
    public static func isValid(utf8 u: UnsafeBufferPointer<UInt8>) -> Bool {
        guard (1...63).contains(u.count) else { return false }
        for i in 0..<u.count {
            let c = u[i]
            let ok = (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || (i > 0 && (c == 0x2D || c == 0x5F))
            if !ok { return false }
        }
        return true
    }
}

extension EventHash {
    /// Parses the 64 lowercase hex digits at `p` (the caller checked they are in bounds), as
    /// `init?(hex:)` does, eight digits at a time: this runs twice for every line read.
    public init?(hexDigits p: UnsafePointer<UInt8>) {
        let raw = UnsafeRawPointer(p)
        guard let a = Self.hexWord(raw), let b = Self.hexWord(raw + 16), let c = Self.hexWord(raw + 32),
            let d = Self.hexWord(raw + 48)
        else { return nil }
        self.init(w0: a, w1: b, w2: c, w3: d)
    }

    /// Sixteen lowercase hex digits as a word, or nil.
    @inline(__always) static func hexWord(_ p: UnsafeRawPointer) -> UInt64? {
        guard let hi = hexHalf(UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))),
            let lo = hexHalf(UInt64(littleEndian: (p + 8).loadUnaligned(as: UInt64.self)))
        else { return nil }
        return hi << 32 | lo
    }

    /// Eight hex digits (the first in the lowest byte of `x`) as 32 bits, or nil unless each is
    /// 0-9 or a-f. Byte-wise compares without a branch per digit: with every byte below 0x80,
    /// (byte | 0x80) - c keeps its high bit exactly when byte >= c, and never borrows from the
    /// next byte.
    @inline(__always) static func hexHalf(_ x: UInt64) -> UInt64? {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high = ones &* 0x80
        guard x & high == 0 else { return nil }
        let h = x | high
        @inline(__always) func atLeast(_ c: UInt64) -> UInt64 { (h &- ones &* c) & high }
        let digit = atLeast(0x30) & ~atLeast(0x3A)
        let letter = atLeast(0x61) & ~atLeast(0x67)
        guard digit | letter == high else { return nil }
        // Each byte's value: its low nibble, plus 9 for a letter.
        let v = (x & (ones &* 0x0F)) &+ (letter >> 7) &* 9
        // Pairs of digits into bytes (the first digit of each pair is the high nibble), then
        // the four bytes in order, the first the most significant.
        let pairs = ((v & 0x000F_000F_000F_000F) << 4) | ((v >> 8) & 0x000F_000F_000F_000F)
        return (pairs & 0xFF) << 24 | (pairs >> 16 & 0xFF) << 16 | (pairs >> 32 & 0xFF) << 8 | (pairs >> 48 & 0xFF)
    }
}

extension Base64 {
    /// The number of bytes `decode` would give for `input`, or nil where it gives nil; without
    /// decoding (the same checks, in the same order).
    public static func decodedCount(_ input: UnsafeBufferPointer<UInt8>) -> Int? {
        guard input.count % 4 == 0 else { return nil }
        var count = 0
        var i = 0
        while i < input.count {
            var pad = 0
            for j in 0..<4 {
                let c = input[i + j]
                if c == UInt8(ascii: "=") && i + 4 == input.count && j >= 2 {
                    pad += 1
                    continue
                }
                guard pad == 0 else { return nil }
                guard reverse[Int(c)] != 0xFF else { return nil }
            }
            count += 3 - pad
            i += 4
        }
        return count
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Event {
    /// Reads a line written by `encode`. Strict: members in canonical order, no whitespace,
    /// `id` equal to `origin:seq`, `prev` present exactly when seq > 1. It does not check the
    /// hash (see `hashIsValid`): recovery, ingest and reads decide what to check.
    ///
    /// `checkingData: false` is for a line read back to show values of its `data` (the incident
    /// views), whose bytes were checked when they were stored: the envelope is read as strictly,
    /// but `data` is found from the line's tail instead of walked (`EventEnvelope`).
    public static func parse(line: [UInt8], checkingData: Bool = true) throws(EventParseError) -> Event {
        // The grammar is EventEnvelope's (one grammar for every reader of lines); this builds
        // the strings and the signature bytes on top of it.
        try line.withUnsafeBufferPointer { buffer throws(EventParseError) in
            let e = try EventEnvelope(scanning: buffer, checkingData: checkingData)
            return Event(
                line: line, origin: e.string(e.origin, in: buffer), seq: e.seq, prev: e.prev, hlc: e.hlc,
                recordedAt: e.string(e.recordedAt, in: buffer), type: e.string(e.type, in: buffer),
                sector: e.string(e.sector, in: buffer), dataRange: e.data, hash: e.hash,
                signature: e.signature.flatMap { Base64.decode(UnsafeBufferPointer(rebasing: buffer[$0])) },
                hashedPrefixEnd: e.hashedPrefixEnd)
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
        // Eight bytes at a time, then the rest: the literals are short, a call to memcmp costs more.
        let p = UnsafeRawPointer(bytes.baseAddress! + index)
        let q = UnsafeRawPointer(lit.utf8Start)
        var i = 0
        while i + 8 <= n {
            if p.loadUnaligned(fromByteOffset: i, as: UInt64.self) != q.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                return false
            }
            i += 8
        }
        while i < n {
            if p.load(fromByteOffset: i, as: UInt8.self) != q.load(fromByteOffset: i, as: UInt8.self) { return false }
            i += 1
        }
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

    mutating func unsigned() throws(EventParseError) -> UInt64 {
        let start = index
        while index < bytes.count, bytes[index] >= 0x30 && bytes[index] <= 0x39 { index += 1 }
        guard let v = HLCTimestamp.parseDecimal(UnsafeBufferPointer(rebasing: bytes[start..<index]), max: UInt64(Int64.max))
        else { throw EventParseError(offset: start, reason: "expected an unsigned integer") }
        return v
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

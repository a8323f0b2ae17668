@preconcurrency public import Crypto

extension Event {
    /// Everything the origin decides about a new event before it is hashed.
    public struct Draft: Sendable {
        public var origin: String
        public var seq: UInt64
        public var prev: EventHash?
        public var hlc: HLCTimestamp
        public var recordedAtMillis: Int64
        public var type: String
        public var sector: String
        /// Canonical JSON of the payload.
        public var data: [UInt8]

        public init(
            origin: String, seq: UInt64, prev: EventHash?, hlc: HLCTimestamp, recordedAtMillis: Int64,
            type: String, sector: String, data: [UInt8]
        ) {
            self.origin = origin
            self.seq = seq
            self.prev = prev
            self.hlc = hlc
            self.recordedAtMillis = recordedAtMillis
            self.type = type
            self.sector = sector
            self.data = data
        }
    }

    /// Where the parts of a line `write(_:signer:into:)` wrote are, in the writer's bytes.
    public struct Written: Sendable {
        public var recordedAt: Range<Int>
        public var data: Range<Int>
        /// The index of `,"hash":`.
        public var hashedPrefixEnd: Int
        public var hash: EventHash
        public var signature: [UInt8]?
    }

    /// Writes the line of a new event at the end of `w` (no newline): the envelope in canonical
    /// order, its hash, and a signature when `signer` is given (the last event of a commit
    /// batch). The store's writer writes its commit's lines so, one after the other into one
    /// buffer; `encode` writes one line alone.
    public static func write(_ d: Draft, signer: Curve25519.Signing.PrivateKey?, into w: inout JSONWriter) -> Written {
        let start = w.bytes.count
        w.raw("{\"origin\":")
        w.string(d.origin)
        w.raw(",\"seq\":")
        w.integer(d.seq)
        w.raw(",\"id\":\"")
        w.raw(d.origin.utf8)
        w.raw(UInt8(ascii: ":"))
        w.integer(d.seq)
        w.raw(UInt8(ascii: "\""))
        if let prev = d.prev {
            w.raw(",\"prev\":\"")
            prev.appendHex(to: &w.bytes)
            w.raw(UInt8(ascii: "\""))
        }
        w.raw(",\"hlc\":\"")
        w.integer(d.hlc.wallMillis)
        w.raw(UInt8(ascii: "-"))
        w.integer(d.hlc.counter)
        w.raw("\",\"recorded_at\":\"")
        let recordedStart = w.bytes.count
        RFC3339.append(millis: d.recordedAtMillis, to: &w.bytes)
        let recordedAt = recordedStart..<w.bytes.count
        w.raw("\",\"type\":")
        w.string(d.type)
        w.raw(",\"sector\":")
        w.string(d.sector)
        w.raw(",\"data\":")
        let dataStart = w.bytes.count
        w.raw(d.data)
        let dataEnd = w.bytes.count
        let prefixEnd = w.bytes.count
        let hash = w.bytes.withUnsafeBufferPointer { computeHash(prefix: UnsafeBufferPointer(rebasing: $0[start..<prefixEnd])) }
        w.raw(",\"hash\":\"")
        hash.appendHex(to: &w.bytes)
        w.raw(UInt8(ascii: "\""))
        var signature: [UInt8]? = nil
        if let signer {
            // Ed25519 over the raw hash; signing cannot fail for a valid key.
            let sig: [UInt8] = (try? signer.signature(for: hash.rawBytes)).map { Array($0) } ?? []
            w.raw(",\"sig\":\"")
            Base64.encode(sig, into: &w.bytes)
            w.raw(UInt8(ascii: "\""))
            signature = sig
        }
        w.raw(UInt8(ascii: "}"))
        return Written(
            recordedAt: recordedAt, data: dataStart..<dataEnd, hashedPrefixEnd: prefixEnd, hash: hash,
            signature: signature)
    }

    /// The event of a new line (`write(_:signer:into:)`, alone in its buffer).
    public static func encode(_ d: Draft, signer: Curve25519.Signing.PrivateKey?) -> Event {
        var w = JSONWriter(reservingCapacity: d.data.count + 320)
        let written = write(d, signer: signer, into: &w)
        return Event(
            line: w.bytes, origin: d.origin, seq: d.seq, prev: d.prev, hlc: d.hlc,
            recordedAt: String(decoding: w.bytes[written.recordedAt], as: UTF8.self), type: d.type, sector: d.sector,
            dataRange: written.data, hash: written.hash, signature: written.signature, hashedPrefixEnd: written.hashedPrefixEnd)
    }
}

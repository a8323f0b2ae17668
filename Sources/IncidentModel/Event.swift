@preconcurrency public import Crypto

// Event line format (the same bytes on disk, on the wire and in `incidentctl export`):
//
//   {"origin":"gao","seq":2,"id":"gao:2","prev":"<64 hex>","hlc":"1764388800000-0",
//    "recorded_at":"2026-11-29T04:00:00.123Z","type":"incident.reported","sector":"east",
//    "data":{…canonical…},"hash":"<64 hex>","sig":"<base64 Ed25519, 88 chars>"}
//
// - Members appear in exactly this order, with no whitespace; `prev` is absent for seq 1, `sig`
//   is present on the last event of each commit batch of the origin (and may be on any).
// - `hash` = SHA-256 of the line's bytes up to, not including, `,"hash":` followed by one `}` —
//   that is, of the canonical JSON object of every field before `hash`. So a reader checks an
//   event by hashing bytes it already has; nobody downstream re-encodes anything.
// - `sig` = Ed25519 signature by the origin's key of the 32 raw bytes of `hash`. A signature on
//   event n vouches for events 1…n of that origin through the `prev` chain.
// - The line never contains a raw newline (JSON escapes control characters).

/// One stored event: its exact line plus the envelope fields parsed out of it.
///
/// A class, not a struct: events travel in arrays through the store, sync and the fold, and a
/// struct of seven reference-counted fields costs seven retains and releases per copy. All
/// members are immutable, so sharing one instance is safe.
public final class Event: Sendable {
    /// The line's bytes, without the trailing newline.
    public let line: [UInt8]
    public let origin: String
    public let seq: UInt64
    public let prev: EventHash?
    public let hlc: HLCTimestamp
    public let recordedAt: String
    public let type: String
    public let sector: String
    /// Where `data` sits in `line`.
    public let dataRange: Range<Int>
    public let hash: EventHash
    /// Raw 64-byte Ed25519 signature, when this event carries one.
    public let signature: [UInt8]?
    /// Where the hashed prefix ends in `line` (the index of `,"hash":`).
    public let hashedPrefixEnd: Int

    init(
        line: [UInt8], origin: String, seq: UInt64, prev: EventHash?, hlc: HLCTimestamp, recordedAt: String, type: String,
        sector: String, dataRange: Range<Int>, hash: EventHash, signature: [UInt8]?, hashedPrefixEnd: Int
    ) {
        self.line = line
        self.origin = origin
        self.seq = seq
        self.prev = prev
        self.hlc = hlc
        self.recordedAt = recordedAt
        self.type = type
        self.sector = sector
        self.dataRange = dataRange
        self.hash = hash
        self.signature = signature
        self.hashedPrefixEnd = hashedPrefixEnd
    }

    public var id: String { "\(origin):\(seq)" }

    /// The bytes of `data` as the origin wrote them.
    public var dataBytes: ArraySlice<UInt8> { line[dataRange] }

    /// Recomputes the hash from the line's bytes and compares it with the stated one.
    public var hashIsValid: Bool {
        line.withUnsafeBufferPointer { Self.computeHash(prefix: UnsafeBufferPointer(rebasing: $0[..<hashedPrefixEnd])) }
            == hash
    }

    /// SHA-256 of `prefix` + `}`: the hash of the canonical object of the fields before `hash`.
    public static func computeHash(prefix: UnsafeBufferPointer<UInt8>) -> EventHash {
        var hasher = SHA256()
        hasher.update(bufferPointer: UnsafeRawBufferPointer(prefix))
        withUnsafeBytes(of: UInt8(ascii: "}")) { hasher.update(bufferPointer: $0) }
        return EventHash(hasher.finalize())
    }

    /// Checks the signature against the origin's public key.
    public func signatureIsValid(publicKey: Curve25519.Signing.PublicKey) -> Bool {
        guard let signature else { return false }
        return publicKey.isValidSignature(signature, for: hash.rawBytes)
    }
}

/// What went wrong reading a line as an event.
public struct EventParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "byte \(offset): \(reason)" }
}

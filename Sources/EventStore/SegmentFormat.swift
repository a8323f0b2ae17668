// Segment files — the store's on-disk format (docs/STORAGE.md says the same at more length).
//
//   <data dir>/node.key                     the node's Ed25519 seed, base64, mode 0600
//   <data dir>/segments/<first offset>.jsonl  20 decimal digits, zero-padded: 00000000000000000000.jsonl
//   <data dir>/segments/<name>.broken[.N]   bytes cut from a torn tail on recovery, kept for forensics
//   <data dir>/segments/<name>.damaged[.N]  a damaged sealed segment as found, kept when a repair rewrote it
//   <data dir>/segments/<name>.tmp          a repair's new segment while it is written
//
// - A segment holds consecutive events of the local log, one event line (IncidentModel/Event.swift)
//   followed by "\n" each. The local offset of an event is its position in the whole log, counting
//   from 0; a segment's name is the offset of its first event, so the offset → segment map is the
//   sorted list of names.
// - Only the newest segment is written, only by appending. It is sealed (never written again) when
//   a commit finds it at or above the segment size limit; the next commit creates the next segment
//   and fsyncs the directory before anything in it is acknowledged.
// - Every line must parse, its hash must match its bytes, and its (origin, seq, prev) must extend
//   that origin's chain in the log read so far: seq = held + 1 and prev = hash of the held seq.
//
// Recovery on open:
// - Newest segment: bytes after its last "\n" (an incomplete last line) are a torn tail: copied to
//   `<name>.broken` (or `.broken.1`, … when that exists), fsynced, cut off with ftruncate, the
//   segment fsynced, and the lost byte range logged at warning. A write is appended in one go, so
//   a crash leaves at most such a prefix of one line (or zeros, which hold no "\n").
// - A *complete* line that fails its checks is corruption, even the last one: it may be an
//   acknowledged event that peers already hold, and cutting it would make the node reuse its seq
//   (a fork). The open fails naming the file and byte offset. (Cutting a complete last line that
//   does not verify, as a torn one is cut, would be simpler; this is stricter on purpose.)
// - Before the write lock is taken, `<data dir>/LOCK` is locked (flock): a second incidentd on the
//   same directory stops before it touches a segment.
// - Sealed segment: a line that fails its own checks (parse, hash, or a lost last newline) is
//   damage, not a torn write. The open maps it, serves the log without the events it hides, and
//   the repair writes them back when a peer or a bundle brings them (Damage.swift). A line whose
//   hash matches but that breaks its chain, or gaps that the damaged lines cannot explain, still
//   stop the open with an error naming the file and the byte offset of the line.
//
// Checking a copy (`EventStore.verifyCopy`, what `incidentctl backup` runs before it declares a
// backup good): the same scan and checks, reading only. Nothing is cut, created, locked or
// repaired, so any line that fails refuses the copy, naming the first: a torn last line, and
// every damage of a sealed segment that the open would map and serve around (a backup must hold
// every event it counts). Each `sig` is also checked against its origin's key (the open leaves
// signatures to the peers that receive the events).

/// Names and parses segment file names.
public enum SegmentName {
    public static let suffix = ".jsonl"

    public static func fileName(firstOffset: UInt64) -> String {
        let digits = String(firstOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    public static func firstOffset(fileName: String) -> UInt64? {
        guard fileName.hasSuffix(suffix) else { return nil }
        let stem = fileName.dropLast(suffix.count)
        guard stem.count == 20, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(stem)
    }
}

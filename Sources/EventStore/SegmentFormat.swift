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
// - Only the newest segment is written, only at the end of its data. It is sealed (never written
//   again) when a commit finds it at or above the segment size limit: its reserved tail is cut
//   (ftruncate to its data, fsync), then the next segment is created and the directory fsynced
//   before anything in it is acknowledged.
// - Every line must parse, its hash must match its bytes, and its (origin, seq, prev) must extend
//   that origin's chain in the log read so far: seq = held + 1 and prev = hash of the held seq.
//
// Reserved tail (preallocation; docs/STORAGE.md, "Reserved tail"):
// - The newest segment runs ahead of its data in zero bytes, written and synced. A commit is
//   written with pwrite at the end of the data, over the start of the tail, so its fdatasync has
//   no file size to commit. A commit that runs past the tail writes zeros after itself, up to
//   `StoreOptions.preallocationBytes` (1 MiB) beyond its end but not past the segment size limit,
//   in the same sync. The zeros are written, not fallocated: an fallocated (unwritten) extent
//   turns written at its first write, a metadata change that each fdatasync would commit.
// - A sealed segment has no tail, and a clean close cuts the newest segment's, so only a crash
//   or a kill leaves one. A segment without one (also any written before the tail existed) is a
//   segment whose tail is empty. Readers never look past the committed size held in memory.
//
// Recovery on open:
// - Newest segment: its data ends after its last non-zero byte; the zeros after it are its
//   reserved tail, kept, and the writer goes on at the end of the data. No line holds a zero
//   byte (JSON has no raw control characters, and "\n" is not zero).
// - Within the data, a torn tail starts at the first line that is incomplete (bytes after the
//   last "\n") or that holds a zero byte: copied up to the data's end to `<name>.broken` (or
//   `.broken.1`, … when that exists), fsynced, cut off with ftruncate (the tail of zeros with
//   it), the segment fsynced, and the lost byte range logged at warning. A commit is written in
//   one go, so a kill leaves at most a prefix of it; a machine crash can also keep a later block
//   of the last commit and lose an earlier one, leaving zeros inside a line. Every commit is
//   synced before the next is written, so a line holding a zero byte belongs to the last commit,
//   which was never acknowledged.
// - A cut is refused (the open fails) when a complete line after its start parses with a
//   matching hash: that is damage followed by data, not a torn write.
// - A *complete* line without a zero byte that fails its checks is corruption, even the last one:
//   it may be an acknowledged event that peers already hold, and cutting it would make the node
//   reuse its seq (a fork). The open fails naming the file and byte offset. (Cutting a complete
//   last line that does not verify, as a torn one is cut, would be simpler; this is stricter on
//   purpose.)
// - Before the write lock is taken, `<data dir>/LOCK` is locked (flock): a second incidentd on the
//   same directory stops before it touches a segment.
// - Sealed segment: a line that fails its own checks (parse, hash, or a lost last newline) is
//   damage, not a torn write. The open maps it, serves the log without the events it hides, and
//   the repair writes them back when a peer or a bundle brings them (Damage.swift). A line whose
//   hash matches but that breaks its chain, or gaps that the damaged lines cannot explain, still
//   stop the open with an error naming the file and the byte offset of the line.
//
// Checking a copy (`EventStore.verifyCopy`, what `incidentctl backup` runs before it declares a
// backup good): the same scan and checks, reading only; the newest segment's zero tail is not
// data there either. Nothing is cut, created, locked or
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

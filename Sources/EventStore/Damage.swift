import IncidentModel

// Damaged sealed segments and their repair (docs/STORAGE.md, "Damaged sealed segments", says
// the same at more length).
//
// A sealed segment is never written by the writer again, so a line of it that fails its checks
// on open (it does not parse, or its hash does not match its bytes, or the segment's last line
// has lost its newline) is damage on disk, not a torn write. The node opens anyway and serves
// everything else; the events the damage hides are fetched again and written back in place.
//
// Mapping the damage (Recovery+Damage.swift):
// - A sealed segment must hold exactly (next segment's first offset − its own) lines: its name
//   and the next one's say so. That number fixes every offset whatever the damage did to the
//   newlines.
// - Clean damage: the segment still has that many lines. Each line that fails is one *slot*,
//   an offset whose event the node does not hold; every other line keeps its offset.
// - Otherwise a newline was lost or made (a flipped bit in or into "\n"): everything from the
//   first failing line to the end of the last one is one damaged range, and it holds as many
//   slots as the lines before and after it leave over. Intact lines inside that range are
//   slots too (their offsets are not known).
// - Whose events the slots held: each origin's chain must run without gaps, so a later event of
//   an origin whose seq jumps names the missing seqs, and its `prev` is the hash the last of them
//   must have. An origin's newest events have no later event; for them the slot's own bytes are
//   read leniently (`{"origin":…,"seq":…,"id":…` at the start of the line). The missing events
//   are given slots in an order that keeps every origin's chain in seq order: earliest deadline
//   first, where an event must come after its held predecessor and before its held successor.
//   Any order that does so is as good as the original for every reader (the log is read per
//   origin in seq order). A slot nothing names is *unidentified*. Gaps that slots cannot explain,
//   or a line with a valid hash that breaks its chain, stop the open.
//
// While damaged:
// - `offset(origin:seq:)`, `get` and every reader skip slots: the events are not held.
// - The version vector counts, per origin, only seqs held without a gap, so a missing event
//   lowers it: every peer's hello sees that this node lacks the origin's events from the first
//   missing seq and sends them (with what follows, which is dropped as duplicate once the
//   repaired event raises the vector in this node's acks). A version-1 peer does the same.
// - The fold is of the events held; it folds repaired events when they arrive
//   (Projections: events that fill a gap of their origin are folded, not taken as duplicates).
// - The writer's chain for its own origin continues after its newest event even when that
//   event is the damaged one, so no seq is written twice. Its hash is then the one the damaged
//   line's signature verifies, else the `hash` the line states, else the hash of its bytes.
//
// Repair (EventStore+Repair.swift): an event that arrives (from a peer, or a bundle through
// `ingest`) for a missing (origin, seq) is checked against its neighbours — `prev` = the hash of
// seq − 1 when that is held or repaired; its hash = the `prev` of seq + 1 likewise — and takes
// its slot. A clean segment is then rewritten at once with the repaired lines in their slots
// and the other slots' bytes as they were; a segment with a damaged range once every slot of
// the range is filled (until then the repaired events wait in memory and are not yet held).
// The rewrite runs on the writer thread: the segment's bytes are copied to
// `<segment>.damaged[.N]` (first rewrite of a run), the new bytes written to `<segment>.tmp`,
// fsynced, renamed over the segment, the directory fsynced: at every moment the file is the old
// one or the new one. A reader that opened the segment before the rename reads the replaced
// file through its descriptor to the end; later readers open the rewritten one.
//
// Lost: an event of the node's own origin that is missing, and that no configured peer holds
// once each has completed a handshake since the start (its hello's vector stops below it), is
// reported lost by id (status and a warning). It is still repaired should it turn up. The
// node's chain goes on after the gap; peers refuse the origin's events after it as `gap`, since
// they can never hold the lost one.

/// An event's identity: origin and seq.
struct EventKey: Hashable, Sendable {
    var origin: String
    var seq: UInt64
    var id: String { "\(origin):\(seq)" }
}

/// The writer's record of the damage and of the repair so far (touched by the writer thread only,
/// after the open). The index holds what readers need (slots, missing seqs) and a report.
struct RepairState {
    /// One slot of a damaged segment.
    struct Slot {
        /// Position in the segment (0 = its first line).
        var index: Int
        /// The missing event the slot was given, if any.
        var key: EventKey?
        /// Clean damage: the failing line's bytes (no newline), written back while unrepaired.
        var original: [UInt8]
        /// The repaired event, once it arrived.
        var fill: Event? = nil
        /// Whether the segment on disk holds `fill`.
        var written = false
    }

    struct Segment {
        var name: String
        var firstOffset: UInt64
        /// Lines the segment must hold.
        var count: Int
        var byteRanges: [Range<UInt64>]
        /// Each failing line is one slot; otherwise one damaged range (see the top of this file).
        var clean: Bool
        var slots: [Slot]
        var repaired = 0
        /// Whether this run already kept a copy of the damaged file.
        var copied = false

        /// Filled slots the file does not hold yet, and whether the file can take them now.
        var pendingWrite: Bool {
            let filled = slots.contains { $0.fill != nil && !$0.written }
            return filled && (clean || slots.allSatisfy { $0.fill != nil })
        }
    }

    /// What is known around a missing event, from the log as recovery read it.
    struct Missing {
        /// Index into `segments`, and into that segment's `slots`.
        var segment: Int
        var slot: Int
        var offset: UInt64
        /// The hash of seq − 1 when the log held it (nil: seq 1, or seq − 1 missing too).
        var predecessorHash: EventHash? = nil
        /// The `prev` of seq + 1 when the log held it, or the hash a damaged line's signature
        /// established: the repaired event's hash must be this.
        var expectedHash: EventHash? = nil
    }

    var segments: [Segment] = []
    var missing: [EventKey: Missing] = [:]
    /// When this node's own newest event is missing: its seq and the hash the writer's chain
    /// goes on from (see above).
    var ownHeadGuess: (seq: UInt64, hash: EventHash)? = nil

    var isEmpty: Bool { segments.isEmpty }

    /// The report `status` shows (the store adds `lost`).
    var report: DamageReport {
        var r = DamageReport()
        for s in segments {
            let missingIDs = s.slots.compactMap { slot -> String? in
                guard let key = slot.key, !slot.written else { return nil }
                return key.id
            }
            r.segments.append(
                DamageReport.Segment(
                    name: s.name, byteRanges: s.byteRanges, events: s.slots.count, missing: missingIDs, repaired: s.repaired,
                    unidentified: s.slots.filter { $0.key == nil }.count,
                    waiting: s.slots.filter { $0.fill != nil && !$0.written }.count,
                    repairedWhole: s.slots.allSatisfy(\.written)))
        }
        return r
    }
}

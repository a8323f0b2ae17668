/// What a node's store knows about damaged sealed segments and their repair (docs/STORAGE.md,
/// "Damaged sealed segments"): `status.damage` on the client API.
public struct DamageReport: Sendable, Equatable {
    public struct Segment: Sendable, Equatable {
        /// The segment's file name (`<20 digits>.jsonl`).
        public var name: String
        /// Byte ranges of the file, as the node found it, that failed their checks.
        public var byteRanges: [Range<UInt64>]
        /// Offsets whose events the damage hid.
        public var events: Int
        /// Ids of those events not held yet (repaired ones leave this list).
        public var missing: [String]
        /// Events repaired since the node started.
        public var repaired: Int
        /// Slots whose event nothing names (no later event of its origin, and unreadable bytes).
        public var unidentified: Int
        /// Repaired events waiting in memory for the rest of their damaged range.
        public var waiting: Int
        /// Whether the segment verifies again (everything repaired and rewritten).
        public var repairedWhole: Bool

        public init(
            name: String, byteRanges: [Range<UInt64>], events: Int, missing: [String], repaired: Int, unidentified: Int, waiting: Int,
            repairedWhole: Bool
        ) {
            self.name = name
            self.byteRanges = byteRanges
            self.events = events
            self.missing = missing
            self.repaired = repaired
            self.unidentified = unidentified
            self.waiting = waiting
            self.repairedWhole = repairedWhole
        }
    }

    public var segments: [Segment] = []
    /// Missing events of this node's own origin that no configured peer holds.
    public var lost: [String] = []

    public init() {}

    public var isEmpty: Bool { segments.isEmpty }
}

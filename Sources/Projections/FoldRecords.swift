import IncidentModel

// The records the fold keeps per entity. They sit together because each is a few plain fields
// read only by `ProjectionState` and its snapshot coder; see ProjectionState.swift for what they mean.

/// "No node" / "no event" in the index fields below.
let noNode = UInt32.max

/// An event as a point in the fold's total order: (hlc, origin, seq). `origin` is an index in
/// the state's origin table; the order uses the origin's *name* (via its rank), never the index,
/// which depends on arrival order. `seq == 0` means "no event".
struct Ref: Equatable, Sendable {
    var wall: UInt64
    var seq: UInt64
    var counter: UInt32
    var origin: UInt16

    static let none = Ref(wall: 0, seq: 0, counter: 0, origin: 0)
    var isNone: Bool { seq == 0 }
}

/// One event in the history of an incident; the nodes of an incident form a list through `next`.
///
/// Packed into 24 bytes (a million events' history is a million nodes): the wall clock keeps 48
/// bits (milliseconds until the year 10889; later stamps saturate, which keeps the order a
/// function of the event) beside the origin, and the seq 56 bits beside the type.
struct HistoryNode: Sendable {
    private var wallAndOrigin: UInt64
    private var seqAndType: UInt64
    private var counter: UInt32
    var next: UInt32

    init(ref: Ref, next: UInt32, type: UInt8) {
        wallAndOrigin = min(ref.wall, Self.maximumWall) << 16 | UInt64(ref.origin)
        seqAndType = min(ref.seq, Self.maximumSeq) << 8 | UInt64(type)
        counter = ref.counter
        self.next = next
    }

    static let maximumWall: UInt64 = 1 << 48 - 1
    static let maximumSeq: UInt64 = 1 << 56 - 1

    var ref: Ref {
        Ref(wall: wallAndOrigin >> 16, seq: seqAndType >> 8, counter: counter,
            origin: UInt16(truncatingIfNeeded: wallAndOrigin))
    }

    var type: UInt8 { UInt8(truncatingIfNeeded: seqAndType) }
}

/// An origin's latest casualty report for an incident: an absolute figure, not an increment.
struct CasualtyReport: Equatable, Sendable {
    /// History node of the report.
    var node: UInt32
    /// Lane `group * 3 + kind` (see `FoldCodes`); lane 15 unused.
    var counts: SIMD16<Int32>
}

struct IncidentRecord: Sendable {
    var key: EntityKey
    /// Newest-inserted history node (insertion order, not the view's order).
    var head: UInt32 = noNode
    /// The creating `incident.reported`: the earliest one by (hlc, origin, seq).
    var created: UInt32 = noNode
    /// Envelope sector of `created`.
    var sector: UInt16 = 0
    /// History node that set each field of `FoldCodes.incidentFields`.
    var registers = SIMD8<UInt32>(repeating: noNode)
    /// The event that set `status` explicitly (`incident.closed`, `incident.updated`); none means
    /// "open since it was reported".
    var statusNode: UInt32 = noNode
    /// The `incident.verified` that set `verification`; none means "unverified".
    var verificationNode: UInt32 = noNode
    var occurredAt: Int64 = 0
    var category: UInt8 = FoldCodes.otherCategory
    var status: UInt8 = FoldCodes.statusOpen
    var verification: UInt8 = FoldCodes.unverified
    var retracted = false
    var historyCount: UInt32 = 0
    /// The latest report of each origin.
    var casualties: [CasualtyReport] = []

    init(key: EntityKey) {
        self.key = key
    }

    var isReported: Bool { created != noNode }
    var day: Int32 { Int32(clamping: RFC3339.dayNumber(millis: occurredAt)) }
}

/// An event that sets a part of an operational entity, with where and when it was recorded.
struct Mark: Equatable, Sendable {
    var ref: Ref = .none
    var sector: UInt16 = 0
    var recordedAt: Int64 = 0
}

struct MedevacRecord: Sendable {
    var key: EntityKey
    /// The earliest event naming it, which places it when no request is held.
    var first = Mark()
    /// The earliest `medevac.requested`, `medevac.dispatched`, `medevac.completed`.
    var request = Mark()
    var dispatch = Mark()
    var completion = Mark()

    init(key: EntityKey) {
        self.key = key
    }
}

struct ItemCount: Equatable, Sendable {
    /// Index in the state's item-name table.
    var item: UInt16
    var count: Int64
}

struct ConsignmentRecord: Sendable {
    var key: EntityKey
    var first = Mark()
    /// The earliest `election.material.dispatched` and its items.
    var dispatch = Mark()
    var items: [ItemCount] = []
    /// The earliest `election.material.delivered`.
    var delivery = Mark()

    init(key: EntityKey) {
        self.key = key
    }
}

struct StationRecord: Sendable {
    var key: EntityKey
    /// The latest `polling_station.status`.
    var current = Mark()
    var status: UInt8 = 0

    init(key: EntityKey) {
        self.key = key
    }
}

/// What the fold holds of an origin: the newest event held from it, and the seqs below it not
/// folded (events a damaged segment hides until they are repaired; empty otherwise).
struct OriginRecord: Sendable {
    var name: String
    var seq: UInt64 = 0
    var hlc: HLCTimestamp = .zero
    var recordedAt: String = ""
    var gaps: [Range<UInt64>] = []

    /// Takes `seq` out of the gaps; false when it is not in one (a duplicate).
    mutating func fillGap(_ seq: UInt64) -> Bool {
        guard let i = gaps.firstIndex(where: { $0.contains(seq) }) else { return false }
        let gap = gaps[i]
        gaps.remove(at: i)
        if seq + 1 < gap.upperBound { gaps.insert((seq + 1)..<gap.upperBound, at: i) }
        if gap.lowerBound < seq { gaps.insert(gap.lowerBound..<seq, at: i) }
        return true
    }
}

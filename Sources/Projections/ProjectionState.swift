public import IncidentModel

// The projections of the log: an order-independent fold of events into per-entity records and
// per-(sector, day) buckets, from which every view is computed.
//
// Same set of events ⇒ same state ⇒ byte-identical views, whatever order the events arrive in
// (each origin's events in seq order, which the store guarantees). How that holds, per part:
//
// - The total order of events is (hlc, origin name, seq). Every "latest" and "earliest" below
//   is taken in that order, never in arrival order; ties between origins are broken by name.
// - Incident fields (category, summary, occurred_at, time_precision, location, actors, source,
//   confidence) are last-writer-wins registers set by `incident.reported` and by
//   `incident.updated`'s `changes`. `status` is a register set by `incident.closed` and by
//   `incident.updated` with `changes.status` (so `"open"` reopens a closed incident when it is
//   later); with neither it is `open`. `verification` is a register set by `incident.verified`;
//   with none it is `unverified`. The incident's sector is the envelope sector of its creating
//   `incident.reported` (the earliest, should two name the same id). Retraction is a set: one
//   `incident.retracted` retracts for good.
// - Casualties: per incident, the latest report of each origin stands (an absolute snapshot,
//   not an increment); the incident's figure is the latest report overall; the incident is
//   disputed when the standing reports of two origins differ.
// - Medevacs, consignments: the earliest request/dispatch/completion (delivery) event of each
//   counts. They count in the sector of their creating event (`medevac.requested`,
//   `election.material.dispatched`), else in the envelope sector of the earliest event naming them.
// - Polling stations: the status is a register (latest `polling_station.status`), counted in that
//   event's envelope sector. Sightings and personnel movements count per event (a set keyed by
//   event id) in their envelope sector.
// - The history of an incident is every event naming it: its own events, and a
//   `medevac.requested` whose `incident_id` names it.
// - Events may name an incident before its `incident.reported` is held (another origin's
//   casualties, say). They are kept on the incident's record and its history; the incident counts
//   (and is listed) once its report arrives, which gives the same result as any other order.
//
// Counts are kept as contributions: each entity adds its part to one bucket; when an event
// changes an entity, its old part is removed and its new part added. A bucket is a sum, so it
// does not depend on the order of those steps. Retracted incidents, and incidents not reported
// yet, contribute nothing (they are still listed/shown, see the views).
//
// Quarantine: every event is checked as a client's append is (`EventValidator`: a known type, a
// configured sector, `data` as its type's schema requires and in the canonical form every node
// stores) before it is folded. A signed event cannot be refused (its origin's later events chain
// on it), so one that fails stays in the log, is replicated like any other and advances its
// origin's seq and freshness (the version vector), but changes no view: it is counted
// (`quarantinedCount`, the first few kept in `quarantineSample` with the reason) and skipped.
// So the views hold the configured sectors only, whatever peers send. The decision depends only
// on the event and the sector list, so nodes configured alike quarantine the same events and keep
// the same views. An event whose seq is not above the highest already folded from its origin is a
// duplicate and ignored, unless the fold skipped that seq: a store serving a damaged segment
// hands over an origin's events with a gap, and the missing ones later, when they are repaired.
// Those fill the gap and are folded like any other (the fold is order-independent); the origin's
// newest event stays the newest.
//
// The fold takes two stages (PreparedEvents.swift): reading what each event says (envelope
// numbers, type code, the payload members its type uses), which needs no state and runs on a
// helper thread during a rebuild (RebuildPipeline.swift), then applying that to the state, event
// by event in order. Live folding and the rebuild go through both stages alike.
//
// The fold keeps no raw events: the incident history is a list of (hlc, origin, seq, type), and
// the incident view reads field values back from the log through a lookup (see
// ProjectionState+IncidentView.swift).

/// The folded state behind every view. A value type: copy it to answer queries while the
/// original keeps folding.
public struct ProjectionState: Sendable {
    /// The configured sectors, listed (in this order) by the overview. Events of other sectors
    /// are quarantined: they never enter the views.
    public let sectors: [String]

    var origins: [OriginRecord] = []
    var originIndex: [String: UInt16] = [:]
    /// Rank of each origin index by origin name, for the tie-break of the total order.
    var originRank: [UInt16] = []
    var sectorNames: [String] = []
    var itemNames: [String] = []
    var itemIndex: [String: UInt16] = [:]
    var history = ChunkedArray<HistoryNode>()
    var incidents = ChunkedArray<IncidentRecord>()
    var incidentTable = EntityTable()
    /// The reported incidents in the incidents list's order, with counts per filter cell.
    var incidentList = IncidentListIndex()
    var medevacs = ChunkedArray<MedevacRecord>()
    var medevacTable = EntityTable()
    var consignments = ChunkedArray<ConsignmentRecord>()
    var consignmentTable = EntityTable()
    var stations = ChunkedArray<StationRecord>()
    var stationTable = EntityTable()
    var buckets: [BucketKey: Bucket] = [:]
    /// Per sector slot, the sum of its buckets over all days, kept beside them so that a
    /// publication (PublishedViews.swift) costs the same whatever the number of days; an index,
    /// not state: a snapshot rebuilds it from the buckets.
    var sectorTotals: [Bucket] = []
    /// Counted incidents whose casualty figure is disputed.
    var disputed: Set<UInt32> = []
    /// Events folded (duplicates excluded, quarantined events included).
    public internal(set) var eventCount: UInt64 = 0
    /// Events that failed their check and were kept out of the views (see the top of this file).
    public internal(set) var quarantinedCount: UInt64 = 0
    /// The first `quarantineSampleLimit` quarantined events, in the order they were folded.
    public internal(set) var quarantineSample: [QuarantinedEvent] = []
    public static let quarantineSampleLimit = 8
    /// How much of a reason a quarantined event keeps: a reason quotes the event (a sector name,
    /// a value), which is bounded only by the line.
    public static let quarantineReasonLimit = 240
    /// Cache of the last origin seen; a lookup shortcut, not state.
    var lastOrigin: UInt16 = 0
    /// Sector slots whose published answer a fold changed since the last `publish(after:)`
    /// (PublishedViews.swift); a mark for the publisher, not state.
    var touchedSectors: [Bool] = []

    public init(sectors: [String] = Sectors.defaultList) {
        self.sectors = sectors
    }

    /// Whether some origin's events were folded with a gap below its newest (see the top of
    /// this file): the state then covers no version vector, and is not saved as a snapshot.
    public var hasGaps: Bool { origins.contains { !$0.gaps.isEmpty } }

    /// For each origin, the highest seq folded. Events are folded in each origin's seq order
    /// without gaps (as the store holds them, unless `hasGaps`), so this is the version vector
    /// the state covers.
    public var versionVector: VersionVector {
        var entries: [String: UInt64] = [:]
        for o in origins { entries[o.name] = o.seq }
        return VersionVector(entries)
    }

    /// Folds a batch of events, e.g. one batch of `EventStore.subscribe(from:)`. Returns the
    /// events it quarantined.
    @discardableResult
    public mutating func apply(contentsOf events: [Event]) -> [QuarantinedEvent] {
        apply(PreparedEvents(events))
    }

    /// Folds events in order.
    @discardableResult
    public mutating func apply(contentsOf events: some Sequence<Event>) -> [QuarantinedEvent] {
        apply(PreparedEvents(events))
    }

    /// Folds one event. Each origin's events must come in seq order (or fill a gap the fold left,
    /// see the top of this file); events of different origins may interleave in any order.
    @discardableResult
    public mutating func apply(_ event: Event) -> [QuarantinedEvent] {
        apply(PreparedEvents(CollectionOfOne(event)))
    }

    /// Folds a prepared batch, in order (the second stage; see PreparedEvents.swift). Returns
    /// the events it quarantined (duplicates excluded).
    @discardableResult
    public mutating func apply(_ batch: PreparedEvents) -> [QuarantinedEvent] {
        var quarantined: [QuarantinedEvent] = []
        // State slots of the batch's origins and sectors, taken at first use (-1: not yet; -2: a
        // sector that is not configured, refused as `sectorFailures` says).
        var originSlots = [Int](repeating: -1, count: batch.originNames.count)
        var sectorSlots = [Int](repeating: -1, count: batch.sectorNames.count)
        var sectorFailures: [Int: EventValidator.Failure] = [:]
        // The last event folded of each batch origin, whose recorded_at the origin keeps.
        var lastFolded = [Int](repeating: -1, count: batch.originNames.count)
        batch.events.withUnsafeBufferPointer { events in
            for i in 0..<events.count {
                let e = events.baseAddress! + i
                let b = e.pointee.origin
                if originSlots[b] < 0, let slot = originSlot(batch.originNames[b]) { originSlots[b] = Int(slot) }
                guard originSlots[b] >= 0 else { continue }
                let o = originSlots[b]
                let seq = e.pointee.seq
                let hlc = e.pointee.hlc
                if seq > origins[o].seq {
                    if seq > origins[o].seq + 1 { origins[o].gaps.append((origins[o].seq + 1)..<seq) }
                    origins[o].seq = seq
                    origins[o].hlc = hlc
                    lastFolded[b] = i
                } else if origins[o].gaps.isEmpty || !origins[o].fillGap(seq) {
                    continue
                }
                eventCount &+= 1
                let type = e.pointee.type
                let sb = e.pointee.sector
                if sectorSlots[sb] == -1 {
                    do throws(EventValidator.Failure) {
                        try EventValidator(sectors: sectors).checkSector(batch.sectorNames[sb])
                        sectorSlots[sb] = sectorSlot(batch.sectorNames[sb]).map { Int($0) } ?? -2
                    } catch {
                        sectorFailures[sb] = error
                        sectorSlots[sb] = -2
                    }
                }
                guard type != FoldCodes.unknownType, sectorSlots[sb] >= 0 else {
                    // The validator's order: the type, then the sector, then `data`.
                    var failure = batch.failures[i]
                    if failure?.field != "type", let sectorFailure = sectorFailures[sb] { failure = sectorFailure }
                    let q = QuarantinedEvent(
                        id: "\(batch.originNames[b]):\(seq)",
                        reason: String((failure?.description ?? "unchecked").prefix(Self.quarantineReasonLimit)))
                    quarantinedCount &+= 1
                    if quarantineSample.count < Self.quarantineSampleLimit { quarantineSample.append(q) }
                    quarantined.append(q)
                    continue
                }
                let env = Envelope(
                    ref: Ref(wall: hlc.wallMillis, seq: seq, counter: hlc.counter, origin: UInt16(o)),
                    sector: UInt16(sectorSlots[sb]), type: type, recordedMillis: e.pointee.recordedMillis)
                fold(e, env)
            }
        }
        for b in 0..<lastFolded.count where lastFolded[b] >= 0 {
            let range = batch.events[lastFolded[b]].recordedAt
            origins[originSlots[b]].recordedAt = batch.text.withUnsafeBufferPointer {
                String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self)
            }
        }
        return quarantined
    }

    /// The state changes of one event, from its payload. Reads the event in place: binding the
    /// payload out of the batch's array would copy it (and retain its keys) first.
    @inline(__always)
    mutating func fold(_ e: UnsafePointer<PreparedEvent>, _ env: Envelope) {
        switch e.pointee.payload {
        case .none: break
        case .incidentReported(let key, let fields): applyIncidentReported(key, fields, env)
        case .incidentUpdated(let key, let fields, let status): applyIncidentUpdated(key, fields, status, env)
        case .incidentVerified(let key, let status): applyIncidentVerified(key, status, env)
        case .incidentClosed(let key): applyIncidentClosed(key, env)
        case .incidentRetracted(let key): applyIncidentRetracted(key, env)
        case .casualties(let key, let counts): applyCasualties(key, counts, env)
        case .medevac(let key, let incident): applyMedevac(key, incident, env)
        case .consignment(let key, let items): applyConsignment(key, items, env)
        case .personnel(let count): applyPersonnel(count, env)
        case .station(let key, let status): applyStation(key, status, env)
        case .sighting(let kind): applySighting(kind, env)
        }
    }

    // MARK: Tables

    mutating func originSlot(_ name: String) -> UInt16? {
        if Int(lastOrigin) < origins.count, origins[Int(lastOrigin)].name == name { return lastOrigin }
        if let i = originIndex[name] {
            lastOrigin = i
            return i
        }
        guard origins.count < Int(UInt16.max) else { return nil }
        let i = UInt16(origins.count)
        origins.append(OriginRecord(name: name))
        originIndex[name] = i
        rankOrigins()
        lastOrigin = i
        return i
    }

    mutating func rankOrigins() {
        let order = origins.indices.sorted { origins[$0].name.utf8.lexicographicallyPrecedes(origins[$1].name.utf8) }
        originRank = [UInt16](repeating: 0, count: origins.count)
        for (rank, i) in order.enumerated() { originRank[i] = UInt16(rank) }
    }

    /// The slot of a configured sector.
    mutating func sectorSlot(_ name: String) -> UInt16? {
        // A handful of sectors: a scan beats hashing the name.
        for (i, s) in sectorNames.enumerated() where s == name { return UInt16(i) }
        guard sectors.contains(name), sectorNames.count < Int(UInt16.max) else { return nil }
        sectorNames.append(name)
        return UInt16(sectorNames.count - 1)
    }

    mutating func itemSlot(_ name: String) -> UInt16? {
        if let i = itemIndex[name] { return i }
        guard itemNames.count < Int(UInt16.max) else { return nil }
        let i = UInt16(itemNames.count)
        itemNames.append(name)
        itemIndex[name] = i
        return i
    }

    /// The position of the record of `key`, appending a new record when there is none.
    @inline(__always)
    static func slot<R: KeyedRecord>(
        _ key: EntityKey, _ records: inout ChunkedArray<R>, _ table: inout EntityTable, make: (EntityKey) -> R
    ) -> Int {
        let hash = key.tableHash
        if let i = table.find(key, hash: hash, in: records) { return i }
        records.append(make(key))
        table.insert(hash: hash, position: records.count - 1)
        return records.count - 1
    }

    // MARK: Order

    /// The fold's total order: (hlc, origin name, seq).
    @inline(__always) func precedes(_ a: Ref, _ b: Ref) -> Bool {
        if a.wall != b.wall { return a.wall < b.wall }
        if a.counter != b.counter { return a.counter < b.counter }
        if a.origin != b.origin { return originRank[Int(a.origin)] < originRank[Int(b.origin)] }
        return a.seq < b.seq
    }

    /// True when history node `node` comes after `current` (or `current` is none).
    @inline(__always) func isLater(_ node: UInt32, than current: UInt32) -> Bool {
        current == noNode || precedes(history[Int(current)].ref, history[Int(node)].ref)
    }

    @inline(__always) func isEarlier(_ node: UInt32, than current: UInt32) -> Bool {
        current == noNode || precedes(history[Int(node)].ref, history[Int(current)].ref)
    }

    @inline(__always) func isEarlier(_ ref: Ref, than mark: Mark) -> Bool {
        mark.ref.isNone || precedes(ref, mark.ref)
    }

    func eventID(_ ref: Ref) -> String { "\(origins[Int(ref.origin)].name):\(ref.seq)" }

    // MARK: Buckets

    /// Builds `sectorTotals` from the buckets (after loading a snapshot).
    mutating func rebuildSectorTotals() {
        sectorTotals = []
        for (k, b) in buckets {
            let s = Int(k.sector)
            if s >= sectorTotals.count { sectorTotals += repeatElement(Bucket(), count: s + 1 - sectorTotals.count) }
            sectorTotals[s].merge(b)
        }
    }

    /// Changes one bucket in place. A bucket that a removal returns to empty is dropped, so the
    /// bucket table does not depend on what came and went.
    mutating func updateBucket(_ key: BucketKey, removing: Bool = false, _ body: (inout Bucket) -> Void) {
        touch(sector: key.sector)
        // Every change of a bucket is a sum of contributions, so the same change keeps the total.
        let s = Int(key.sector)
        if s >= sectorTotals.count { sectorTotals += repeatElement(Bucket(), count: s + 1 - sectorTotals.count) }
        body(&sectorTotals[s])
        if let i = buckets.index(forKey: key) {
            body(&buckets.values[i])
            if removing, buckets.values[i].isEmpty { buckets.remove(at: i) }
        } else {
            var b = Bucket()
            body(&b)
            if !b.isEmpty { buckets[key] = b }
        }
    }
}

/// An event kept out of the views: its id (`origin:seq`) and the validator's reason.
public struct QuarantinedEvent: Sendable, Equatable, CustomStringConvertible {
    public var id: String
    public var reason: String
    public init(id: String, reason: String) {
        self.id = id
        self.reason = reason
    }
    public var description: String { "\(id) (\(reason))" }
}

/// What the fold uses of an event's envelope.
struct Envelope {
    var ref: Ref
    var sector: UInt16
    var type: UInt8
    /// `recorded_at` in milliseconds (0 when unreadable).
    var recordedMillis: Int64

    var day: Int32 { Int32(clamping: RFC3339.dayNumber(millis: recordedMillis)) }
    var mark: Mark { Mark(ref: ref, sector: sector, recordedAt: recordedMillis) }
}

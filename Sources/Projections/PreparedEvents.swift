public import IncidentModel

// The fold in two stages (the semantics are in ProjectionState.swift; these stages change none):
//
// 1. Preparing (`PreparedEvents`): read what the fold needs of each event — its envelope numbers,
//    its type code, and the payload members its type uses (ids as keys, codes, counts, times) —
//    into plain values. This reads only the event, never the state, so it can run on another
//    thread while the previous batch is applied (`RebuildPipeline`).
// 2. Applying (`ProjectionState.apply(_:)`): everything that touches the state, event by event in
//    order: origin and sector slots, the duplicate check, records, buckets, item names.
//
// Every event takes both stages, whether it comes as an `Event` (live folding, tests) or as a
// stored line read in place (`prepare(_:)`, the rebuild), so both ways fold the same. A line
// whose envelope strings are not plain (escapes, non-ASCII) is read through `Event.parse`, so its
// values are the decoded ones, as `Event`'s are.
//
// Origins and sectors are kept per batch as names and given their state slots when applied, in
// the order the events name them, so the state's tables come out the same however the events are batched.
// The origin's `recorded_at` text (freshness views) is set once per batch from its last folded
// event: nothing reads it while a batch is applied.

/// Events read for the fold, ready to apply (see the top of PreparedEvents.swift).
public struct PreparedEvents: Sendable {
    var events: [PreparedEvent] = []
    /// The batch's origin and sector names, in order of first appearance.
    var originNames: [String] = []
    var originUTF8: [[UInt8]] = []
    var sectorNames: [String] = []
    var sectorUTF8: [[UInt8]] = []
    /// The `recorded_at` texts of the events, one after the other.
    var text: [UInt8] = []
    /// The batch-local index of the last origin and sector named, a shortcut.
    var lastOrigin = 0
    var lastSector = 0

    /// The offsets of the log the batch was read from (`EventLineBlock.span`): its events, and
    /// damaged offsets the store holds no event at.
    public var span = 0

    public init() {}

    /// Events in the batch.
    public var count: Int { events.count }

    /// Reads every line of a block of stored lines (see `EventLineBlock`).
    ///
    /// `data` is not walked here (`EventEnvelope` with `checkingData: false`): the store checked
    /// every line's syntax and hash when it opened the log or wrote the line, and the payload
    /// reader is bounds-checked whatever the bytes.
    public static func prepare(_ block: EventLineBlock) throws(EventParseError) -> PreparedEvents {
        var batch = PreparedEvents()
        batch.span = block.span
        batch.events.reserveCapacity(block.count)
        batch.text.reserveCapacity(block.count * 24)
        try block.bytes.withUnsafeBufferPointer { all throws(EventParseError) in
            for i in 0..<block.count {
                let line = UnsafeBufferPointer(rebasing: all[block.range(ofLine: i)])
                let e = try EventEnvelope(scanning: line, checkingData: false)
                if e.hasEscapedStrings {
                    batch.add(try Event.parse(line: Array(line)))
                } else {
                    batch.add(line: line, envelope: e)
                }
            }
        }
        return batch
    }

    /// Reads events already parsed.
    init(_ events: some Sequence<Event>) {
        for e in events { add(e) }
        span = self.events.count
    }

    mutating func add(line: UnsafeBufferPointer<UInt8>, envelope e: EventEnvelope) {
        let type = FoldCodes.code(ofTypeUTF8: UnsafeBufferPointer(rebasing: line[e.type])) ?? FoldCodes.unknownType
        let payload = type == FoldCodes.unknownType
            ? .none : PayloadInput.read(PayloadReader(line), e.data, type: type, recordedMillis: e.recordedMillis)
        let textStart = text.count
        text.append(contentsOf: UnsafeBufferPointer(rebasing: line[e.recordedAt]))
        events.append(
            PreparedEvent(
                seq: e.seq, hlc: e.hlc, recordedMillis: e.recordedMillis, recordedAt: textStart..<text.count,
                origin: Self.intern(UnsafeBufferPointer(rebasing: line[e.origin]), &originNames, &originUTF8, &lastOrigin),
                sector: Self.intern(UnsafeBufferPointer(rebasing: line[e.sector]), &sectorNames, &sectorUTF8, &lastSector),
                type: type, payload: payload))
    }

    mutating func add(_ event: Event) {
        let type = FoldCodes.code(ofType: event.type) ?? FoldCodes.unknownType
        let millis = RFC3339.parseMillis(event.recordedAt) ?? 0
        let payload: PayloadInput =
            type == FoldCodes.unknownType
            ? .none
            : event.line.withUnsafeBufferPointer {
                PayloadInput.read(PayloadReader($0), event.dataRange, type: type, recordedMillis: millis)
            }
        let textStart = text.count
        text.append(contentsOf: event.recordedAt.utf8)
        var origin = event.origin
        var sector = event.sector
        let o = origin.withUTF8 { Self.intern($0, &originNames, &originUTF8, &lastOrigin) }
        let s = sector.withUTF8 { Self.intern($0, &sectorNames, &sectorUTF8, &lastSector) }
        events.append(
            PreparedEvent(
                seq: event.seq, hlc: event.hlc, recordedMillis: millis, recordedAt: textStart..<text.count, origin: o,
                sector: s, type: type, payload: payload))
    }

    /// The batch-local index of a name, added when new.
    @inline(__always)
    static func intern(_ name: UnsafeBufferPointer<UInt8>, _ names: inout [String], _ utf8: inout [[UInt8]], _ last: inout Int) -> Int {
        @inline(__always) func same(_ i: Int) -> Bool {
            utf8[i].count == name.count
                && utf8[i].withUnsafeBufferPointer { $0.elementsEqual(name) }
        }
        if last < utf8.count, same(last) { return last }
        for i in utf8.indices where same(i) {
            last = i
            return i
        }
        names.append(String(decoding: name, as: UTF8.self))
        utf8.append(Array(name))
        last = utf8.count - 1
        return last
    }
}

/// One event as the fold's second stage takes it.
struct PreparedEvent: Sendable {
    var seq: UInt64
    var hlc: HLCTimestamp
    var recordedMillis: Int64
    /// `recorded_at` in the batch's `text`.
    var recordedAt: Range<Int>
    /// Batch-local origin and sector.
    var origin: Int
    var sector: Int
    /// `FoldCodes` type code, or `FoldCodes.unknownType`.
    var type: UInt8
    var payload: PayloadInput
}

/// Incident register values read from a report's `data` or an update's `changes`.
struct IncidentFields: Sendable {
    /// A bit per `FoldCodes.incidentFields` present.
    var present: UInt8
    var category: UInt8
    var occurredAt: Int64
}

/// What the fold uses of an event's payload, by type; `.none` when the event changes nothing
/// beyond its origin's freshness (a payload the fold cannot read: ignored, see ProjectionState).
enum PayloadInput: Sendable {
    case none
    case incidentReported(EntityKey, IncidentFields)
    case incidentUpdated(EntityKey, IncidentFields, status: UInt8?)
    case incidentVerified(EntityKey, status: UInt8)
    case incidentClosed(EntityKey)
    case incidentRetracted(EntityKey)
    case casualties(EntityKey, SIMD16<Int32>)
    case medevac(EntityKey, incident: EntityKey?)
    /// Items of a dispatch (names decoded, counts); empty for a delivery.
    case consignment(EntityKey, items: [(name: String, count: Int64)])
    case personnel(count: Int64)
    case station(EntityKey, status: UInt8)
    case sighting(kind: UInt8)

    /// Reads the payload of an event of (known) type `type`.
    static func read(_ p: PayloadReader, _ data: Range<Int>, type: UInt8, recordedMillis: Int64) -> PayloadInput {
        switch FoldCodes.types[Int(type)] {
        case .incidentReported:
            var idRange: Range<Int>? = nil
            var fields = readIncidentFields(p, data, idRange: &idRange)
            guard fields.ok, let idRange, let key = p.entityKey(idRange) else { return .none }
            if fields.present & (1 << UInt8(FoldCodes.fieldOccurredAt)) == 0 {
                // occurred_at is required; should it be unreadable, the report's own time stands in.
                fields.occurredAt = recordedMillis
                fields.present |= 1 << UInt8(FoldCodes.fieldOccurredAt)
            }
            return .incidentReported(
                key, IncidentFields(present: fields.present, category: fields.category, occurredAt: fields.occurredAt))
        case .incidentUpdated:
            var idRange: Range<Int>? = nil
            var changes: Range<Int>? = nil
            let ok = p.forEachMember(of: data) { k, v in
                if p.matches(k, "incident_id") { idRange = v } else if p.matches(k, "changes"), p.isObject(v) { changes = v }
            }
            guard ok, let idRange, let changes, let key = p.entityKey(idRange) else { return .none }
            var ignored: Range<Int>? = nil
            let fields = readIncidentFields(p, changes, idRange: &ignored)
            guard fields.ok else { return .none }
            return .incidentUpdated(
                key, IncidentFields(present: fields.present, category: fields.category, occurredAt: fields.occurredAt),
                status: fields.status)
        case .incidentVerified:
            guard let (key, status) = incidentIDAndStatus(p, data, enumeration: FoldCodes.verifications), let status
            else { return .none }
            return .incidentVerified(key, status: status)
        case .incidentClosed:
            guard let (key, _) = incidentIDAndStatus(p, data, enumeration: nil) else { return .none }
            return .incidentClosed(key)
        case .incidentRetracted:
            guard let (key, _) = incidentIDAndStatus(p, data, enumeration: nil) else { return .none }
            return .incidentRetracted(key)
        case .casualtiesReported:
            var idRange: Range<Int>? = nil
            var counts = SIMD16<Int32>()
            let ok = p.forEachMember(of: data) { k, v in
                if p.matches(k, "incident_id") {
                    idRange = v
                    return
                }
                guard let g = p.index(of: k, in: FoldCodes.casualtyGroupKeys), p.isObject(v) else { return }
                _ = p.forEachMember(of: v) { kk, vv in
                    guard let kind = p.index(of: kk, in: FoldCodes.casualtyKindKeys), let n = p.integer(vv) else { return }
                    counts[g * 3 + kind] = Int32(clamping: max(0, n))
                }
            }
            guard ok, let idRange, let key = p.entityKey(idRange) else { return .none }
            return .casualties(key, counts)
        case .medevacRequested, .medevacDispatched, .medevacCompleted:
            var idRange: Range<Int>? = nil
            var incidentRange: Range<Int>? = nil
            let ok = p.forEachMember(of: data) { k, v in
                if p.matches(k, "medevac_id") { idRange = v } else if p.matches(k, "incident_id") { incidentRange = v }
            }
            guard ok, let idRange, let key = p.entityKey(idRange) else { return .none }
            // Only a request links the medevac to its incident.
            let incident = FoldCodes.types[Int(type)] == .medevacRequested ? incidentRange.flatMap { p.entityKey($0) } : nil
            return .medevac(key, incident: incident)
        case .electionMaterialDispatched, .electionMaterialDelivered:
            var idRange: Range<Int>? = nil
            var itemsRange: Range<Int>? = nil
            let ok = p.forEachMember(of: data) { k, v in
                if p.matches(k, "consignment_id") { idRange = v } else if p.matches(k, "items"), p.isObject(v) { itemsRange = v }
            }
            guard ok, let idRange, let key = p.entityKey(idRange) else { return .none }
            guard FoldCodes.types[Int(type)] == .electionMaterialDispatched else { return .consignment(key, items: []) }
            guard let itemsRange, let items = readItems(p, itemsRange) else { return .none }
            return .consignment(key, items: items)
        case .electionPersonnelMoved:
            guard let countRange = p.member("count", of: data), let count = p.integer(countRange), count >= 1 else {
                return .none
            }
            return .personnel(count: count)
        case .pollingStationStatus:
            var idRange: Range<Int>? = nil
            var status: UInt8? = nil
            let ok = p.forEachMember(of: data) { k, v in
                if p.matches(k, "station_id") {
                    idRange = v
                } else if p.matches(k, "status") {
                    status = p.code(v, in: FoldCodes.stationStatuses)
                }
            }
            guard ok, let idRange, let status, let key = p.entityKey(idRange) else { return .none }
            return .station(key, status: status)
        case .intelSighting:
            guard let kindRange = p.member("kind", of: data), let kind = p.code(kindRange, in: FoldCodes.sightingKinds)
            else { return .none }
            return .sighting(kind: kind)
        }
    }

    /// Reads incident fields from an object (`data` of a report, `changes` of an update).
    /// Returns the present-bit mask, the category and occurred_at, and the `status` change.
    static func readIncidentFields(_ p: PayloadReader, _ object: Range<Int>, idRange: inout Range<Int>?)
        -> (present: UInt8, category: UInt8, occurredAt: Int64, status: UInt8?, ok: Bool)
    {
        var present: UInt8 = 0
        var category = FoldCodes.otherCategory
        var occurredAt: Int64 = 0
        var status: UInt8? = nil
        var id: Range<Int>? = nil
        let ok = p.forEachMember(of: object) { k, v in
            if p.matches(k, "incident_id") {
                id = v
                return
            }
            if p.matches(k, "status") {
                status = p.code(v, in: FoldCodes.incidentStatuses)
                return
            }
            guard let f = p.index(of: k, in: FoldCodes.incidentFields) else { return }
            switch f {
            case FoldCodes.fieldCategory:
                guard let c = p.code(v, in: FoldCodes.categories) else { return }
                category = c
            case FoldCodes.fieldOccurredAt:
                guard let t = p.time(v) else { return }
                occurredAt = t
            default:
                break
            }
            present |= 1 << UInt8(f)
        }
        if id != nil { idRange = id }
        return (present, category, occurredAt, status, ok)
    }

    /// Reads `incident_id` and, with `enumeration`, the code of the `status` member.
    static func incidentIDAndStatus(_ p: PayloadReader, _ data: Range<Int>, enumeration: [[UInt8]]?)
        -> (key: EntityKey, status: UInt8?)?
    {
        var idRange: Range<Int>? = nil
        var status: UInt8? = nil
        let ok = p.forEachMember(of: data) { k, v in
            if p.matches(k, "incident_id") {
                idRange = v
            } else if let enumeration, p.matches(k, "status") {
                status = p.code(v, in: enumeration)
            }
        }
        guard ok, let idRange, let key = p.entityKey(idRange) else { return nil }
        return (key, status)
    }

    /// The items of a dispatch: each member with a non-negative integer count, its name decoded;
    /// nil when the object is malformed.
    static func readItems(_ p: PayloadReader, _ range: Range<Int>) -> [(name: String, count: Int64)]? {
        var raw: [(name: Range<Int>, count: Int64)] = []
        let ok = p.forEachMember(of: range) { k, v in
            if let n = p.integer(v), n >= 0 { raw.append(((k.lowerBound - 1)..<(k.upperBound + 1), n)) }
        }
        guard ok else { return nil }
        var items: [(name: String, count: Int64)] = []
        for (name, count) in raw {
            guard let s = p.string(name) else { continue }
            items.append((s, count))
        }
        return items
    }
}

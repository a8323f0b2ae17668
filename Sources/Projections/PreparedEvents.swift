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
// Preparing checks each event as a client's append is checked (EventValidator: a known type,
// then `data` in one pass over its canonical bytes, which also records what the fold reads). An
// event that fails is prepared with no payload and its failure kept in `failures`; applying
// quarantines it (ProjectionState.swift), as it does an event whose sector is not configured.
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
    /// Why each event that failed its check failed, by its index in `events` (its type is then
    /// `FoldCodes.unknownType`).
    var failures: [Int: EventValidator.Failure] = [:]

    /// The offsets of the log the batch was read from (`EventLineBlock.span`): its events, and
    /// damaged offsets the store holds no event at.
    public var span = 0

    public init() {}

    /// Events in the batch.
    public var count: Int { events.count }

    /// Reads every line of a block of stored lines (see `EventLineBlock`).
    ///
    /// The envelope does not walk `data` (`EventEnvelope` with `checkingData: false`): the store
    /// checked every line's syntax and hash when it opened the log or wrote the line, and the
    /// payload check is bounds-checked whatever the bytes.
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
        var type = FoldCodes.code(ofTypeUTF8: UnsafeBufferPointer(rebasing: line[e.type])) ?? FoldCodes.unknownType
        let payload = check(line, e.data, type: &type) { String(decoding: UnsafeBufferPointer(rebasing: line[e.type]), as: UTF8.self) }
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
        var type = FoldCodes.code(ofType: event.type) ?? FoldCodes.unknownType
        let millis = RFC3339.parseMillis(event.recordedAt) ?? 0
        let payload = event.line.withUnsafeBufferPointer { check($0, event.dataRange, type: &type) { event.type } }
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

    /// Checks the event's type and `data` (EventValidator) and reads what the fold needs of a
    /// payload that passes. On a failure, records it and makes `type` unknown.
    @inline(__always)
    mutating func check(
        _ line: UnsafeBufferPointer<UInt8>, _ data: Range<Int>, type: inout UInt8, typeName: () -> String
    ) -> PayloadInput {
        guard type != FoldCodes.unknownType else {
            do throws(EventValidator.Failure) {
                _ = try EventValidator.checkType(typeName())
            } catch {
                failures[events.count] = error
            }
            return .none
        }
        let checked: Result<PayloadInput, EventValidator.Failure> = withUnsafeTemporaryAllocation(
            of: PayloadSlot.self, capacity: PayloadLayout.shared.maximumSlots
        ) { slots in
            let p = PayloadReader(line)
            do throws(EventValidator.Failure) {
                try EventValidator.checkData(p, data, typeIndex: Int(type), into: slots.baseAddress!)
                return .success(PayloadInput.read(p, slots.baseAddress!, type: type))
            } catch {
                return .failure(error)
            }
        }
        switch checked {
        case .success(let payload):
            return payload
        case .failure(let failure):
            failures[events.count] = failure
            type = FoldCodes.unknownType
            return .none
        }
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

/// What the fold uses of an event's payload, by type; `.none` for an event that failed its check
/// (quarantined, see ProjectionState).
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

    /// What the fold uses of a payload of (known) type `type` that passed the check, from the
    /// slots the check filled (see `PayloadLayout`).
    static func read(_ p: PayloadReader, _ s: UnsafePointer<PayloadSlot>, type: UInt8) -> PayloadInput {
        switch FoldCodes.types[Int(type)] {
        case .incidentReported:
            return .incidentReported(key(p, s[FoldSlots.reportID]), fields(s, FoldSlots.reportFields))
        case .incidentUpdated:
            let status = s[FoldSlots.updateStatus]
            return .incidentUpdated(
                key(p, s[FoldSlots.updateID]), fields(s, FoldSlots.updateFields), status: status.isPresent ? UInt8(status.value) : nil)
        case .incidentVerified:
            return .incidentVerified(key(p, s[FoldSlots.verifiedID]), status: UInt8(s[FoldSlots.verifiedStatus].value))
        case .incidentClosed:
            return .incidentClosed(key(p, s[FoldSlots.closedID]))
        case .incidentRetracted:
            return .incidentRetracted(key(p, s[FoldSlots.retractedID]))
        case .casualtiesReported:
            var counts = SIMD16<Int32>()
            for (lane, slot) in FoldSlots.casualtyCounts.enumerated() where s[slot].isPresent {
                counts[lane] = Int32(clamping: s[slot].value)
            }
            return .casualties(key(p, s[FoldSlots.casualtiesID]), counts)
        case .medevacRequested:
            let incident = s[FoldSlots.medevacIncident]
            return .medevac(key(p, s[FoldSlots.medevacRequestedID]), incident: incident.isPresent ? key(p, incident) : nil)
        case .medevacDispatched:
            return .medevac(key(p, s[FoldSlots.medevacDispatchedID]), incident: nil)
        case .medevacCompleted:
            return .medevac(key(p, s[FoldSlots.medevacCompletedID]), incident: nil)
        case .electionMaterialDispatched:
            return .consignment(key(p, s[FoldSlots.dispatchedID]), items: items(p, s[FoldSlots.dispatchedItems].range))
        case .electionMaterialDelivered:
            return .consignment(key(p, s[FoldSlots.deliveredID]), items: [])
        case .electionPersonnelMoved:
            return .personnel(count: s[FoldSlots.personnelCount].value)
        case .pollingStationStatus:
            return .station(key(p, s[FoldSlots.stationID]), status: UInt8(s[FoldSlots.stationStatus].value))
        case .intelSighting:
            return .sighting(kind: UInt8(s[FoldSlots.sightingKind].value))
        }
    }

    /// The key of the id in string slot `slot`.
    @inline(__always) static func key(_ p: PayloadReader, _ slot: PayloadSlot) -> EntityKey {
        slot.value == 0 ? EntityKey(utf8: p.contents(slot.range)) : EntityKey(p.decodedString(slot.range))
    }

    /// The incident register fields present among `slots` (in `FoldCodes.incidentFields` order).
    @inline(__always) static func fields(_ s: UnsafePointer<PayloadSlot>, _ slots: [Int]) -> IncidentFields {
        var present: UInt8 = 0
        for (f, slot) in slots.enumerated() where s[slot].isPresent { present |= 1 << UInt8(f) }
        let category = s[slots[FoldCodes.fieldCategory]]
        let occurred = s[slots[FoldCodes.fieldOccurredAt]]
        return IncidentFields(
            present: present, category: category.isPresent ? UInt8(category.value) : FoldCodes.otherCategory,
            occurredAt: occurred.isPresent ? occurred.value : 0)
    }

    /// The items of a dispatch (the check made them item name → integer ≥ 0), names decoded.
    static func items(_ p: PayloadReader, _ range: Range<Int>) -> [(name: String, count: Int64)] {
        var items: [(name: String, count: Int64)] = []
        _ = try? p.members(of: range.lowerBound, range.upperBound, notCanonical: { $0 }) { key, simple, v throws(PayloadReader.NotCanonical) in
            let end = try p.number(at: v, range.upperBound)
            let name = simple ? String(decoding: p.raw(key), as: UTF8.self) : p.decodedString((key.lowerBound - 1)..<(key.upperBound + 1))
            items.append((name, p.integer(v..<end) ?? 0))
            return end
        }
        return items
    }
}

/// The slots (`PayloadLayout`) of the payload fields the fold reads, found once by their paths.
enum FoldSlots {
    static func slot(_ type: EventType, _ path: String) -> Int { PayloadLayout.shared.slot(type, path)! }

    static let reportID = slot(.incidentReported, "incident_id")
    static let reportFields = FoldCodes.incidentFieldNames.map { slot(.incidentReported, $0) }
    static let updateID = slot(.incidentUpdated, "incident_id")
    static let updateFields = FoldCodes.incidentFieldNames.map { slot(.incidentUpdated, "changes.\($0)") }
    static let updateStatus = slot(.incidentUpdated, "changes.status")
    static let verifiedID = slot(.incidentVerified, "incident_id")
    static let verifiedStatus = slot(.incidentVerified, "status")
    static let closedID = slot(.incidentClosed, "incident_id")
    static let retractedID = slot(.incidentRetracted, "incident_id")
    static let casualtiesID = slot(.casualtiesReported, "incident_id")
    /// Lane `group * 3 + kind` of the casualty counts.
    static let casualtyCounts = FoldCodes.casualtyGroups.flatMap { g in
        FoldCodes.casualtyKinds.map { k in slot(.casualtiesReported, "\(g).\(k)") }
    }
    static let medevacRequestedID = slot(.medevacRequested, "medevac_id")
    static let medevacIncident = slot(.medevacRequested, "incident_id")
    static let medevacDispatchedID = slot(.medevacDispatched, "medevac_id")
    static let medevacCompletedID = slot(.medevacCompleted, "medevac_id")
    static let dispatchedID = slot(.electionMaterialDispatched, "consignment_id")
    static let dispatchedItems = slot(.electionMaterialDispatched, "items")
    static let deliveredID = slot(.electionMaterialDelivered, "consignment_id")
    static let personnelCount = slot(.electionPersonnelMoved, "count")
    static let stationID = slot(.pollingStationStatus, "station_id")
    static let stationStatus = slot(.pollingStationStatus, "status")
    static let sightingKind = slot(.intelSighting, "kind")
}

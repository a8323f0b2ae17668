import IncidentModel

// Folding the operational events: medevacs, election material and personnel, polling stations
// and sightings (semantics in ProjectionState.swift).
extension ProjectionState {
    // MARK: Medevacs

    mutating func applyMedevac(_ p: PayloadReader, _ data: Range<Int>, _ env: Envelope) {
        var idRange: Range<Int>? = nil
        var incidentRange: Range<Int>? = nil
        let ok = p.forEachMember(of: data) { k, v in
            if p.matches(k, "medevac_id") { idRange = v } else if p.matches(k, "incident_id") { incidentRange = v }
        }
        guard ok, let idRange, let key = p.entityKey(idRange) else { return }
        let i = Self.slot(key, &medevacs, &medevacTable, make: MedevacRecord.init(key:))
        let before = medevacContribution(i)
        let mark = env.mark
        if isEarlier(env.ref, than: medevacs[i].first) { medevacs[i].first = mark }
        switch FoldCodes.types[Int(env.type)] {
        case .medevacRequested:
            if isEarlier(env.ref, than: medevacs[i].request) { medevacs[i].request = mark }
        case .medevacDispatched:
            if isEarlier(env.ref, than: medevacs[i].dispatch) { medevacs[i].dispatch = mark }
        default:
            if isEarlier(env.ref, than: medevacs[i].completion) { medevacs[i].completion = mark }
        }
        let after = medevacContribution(i)
        if before != after {
            updateBucket(BucketKey(sector: before.sector, day: before.day), removing: true) { $0.add(before, sign: -1) }
            updateBucket(BucketKey(sector: after.sector, day: after.day)) { $0.add(after, sign: 1) }
        }
        if FoldCodes.types[Int(env.type)] == .medevacRequested, let incidentRange,
            let incident = p.entityKey(incidentRange)
        {
            linkToIncident(incident, env)
        }
    }

    func medevacContribution(_ i: Int) -> MedevacContribution {
        let m = medevacs[i]
        let requested = !m.request.ref.isNone
        let dispatched = !m.dispatch.ref.isNone
        let completed = !m.completion.ref.isNone
        let place = requested ? m.request : m.first
        // Clocks of two offices may disagree; a dispatch stamped before its request counts as 0.
        let delay = requested && dispatched ? max(0, m.dispatch.recordedAt - m.request.recordedAt) : -1
        return MedevacContribution(
            sector: place.sector, day: Int32(clamping: RFC3339.dayNumber(millis: place.recordedAt)),
            lanes: SIMD4(requested ? 1 : 0, dispatched ? 1 : 0, completed ? 1 : 0, requested && !completed ? 1 : 0),
            delay: delay)
    }

    // MARK: Election material

    mutating func applyConsignment(_ p: PayloadReader, _ data: Range<Int>, _ env: Envelope) {
        var idRange: Range<Int>? = nil
        var itemsRange: Range<Int>? = nil
        let ok = p.forEachMember(of: data) { k, v in
            if p.matches(k, "consignment_id") { idRange = v } else if p.matches(k, "items"), p.isObject(v) { itemsRange = v }
        }
        guard ok, let idRange, let key = p.entityKey(idRange) else { return }
        let isDispatch = FoldCodes.types[Int(env.type)] == .electionMaterialDispatched
        var items: [ItemCount] = []
        if isDispatch {
            guard let itemsRange, let parsed = readItems(p, itemsRange) else { return }
            items = parsed
        }
        let i = Self.slot(key, &consignments, &consignmentTable, make: ConsignmentRecord.init(key:))
        let before = consignmentContribution(i)
        let mark = env.mark
        if isEarlier(env.ref, than: consignments[i].first) { consignments[i].first = mark }
        if isDispatch {
            if isEarlier(env.ref, than: consignments[i].dispatch) {
                consignments[i].dispatch = mark
                consignments[i].items = items
            }
        } else if isEarlier(env.ref, than: consignments[i].delivery) {
            consignments[i].delivery = mark
        }
        let after = consignmentContribution(i)
        if before != after {
            updateBucket(BucketKey(sector: before.sector, day: before.day), removing: true) { $0.add(before, sign: -1) }
            updateBucket(BucketKey(sector: after.sector, day: after.day)) { $0.add(after, sign: 1) }
        }
    }

    mutating func readItems(_ p: PayloadReader, _ range: Range<Int>) -> [ItemCount]? {
        var raw: [(name: Range<Int>, count: Int64)] = []
        let ok = p.forEachMember(of: range) { k, v in
            if let n = p.integer(v), n >= 0 { raw.append(((k.lowerBound - 1)..<(k.upperBound + 1), n)) }
        }
        guard ok else { return nil }
        var items: [ItemCount] = []
        for (name, count) in raw {
            guard let s = p.string(name), let slot = itemSlot(s) else { continue }
            items.append(ItemCount(item: slot, count: count))
        }
        return items
    }

    func consignmentContribution(_ i: Int) -> ConsignmentContribution {
        let c = consignments[i]
        let dispatched = !c.dispatch.ref.isNone
        let delivered = !c.delivery.ref.isNone
        let place = dispatched ? c.dispatch : c.first
        return ConsignmentContribution(
            sector: place.sector, day: Int32(clamping: RFC3339.dayNumber(millis: place.recordedAt)),
            lanes: SIMD4(dispatched ? 1 : 0, delivered ? 1 : 0, dispatched && !delivered ? 1 : 0, 0),
            items: c.items)
    }

    mutating func applyPersonnel(_ p: PayloadReader, _ data: Range<Int>, _ env: Envelope) {
        guard let countRange = p.member("count", of: data), let count = p.integer(countRange), count >= 1 else { return }
        updateBucket(BucketKey(sector: env.sector, day: env.day)) { $0.personnel &+= SIMD2(count, 1) }
    }

    // MARK: Polling stations and sightings

    mutating func applyStation(_ p: PayloadReader, _ data: Range<Int>, _ env: Envelope) {
        var idRange: Range<Int>? = nil
        var status: UInt8? = nil
        let ok = p.forEachMember(of: data) { k, v in
            if p.matches(k, "station_id") {
                idRange = v
            } else if p.matches(k, "status") {
                status = p.code(v, in: FoldCodes.stationStatuses)
            }
        }
        guard ok, let idRange, let status, let key = p.entityKey(idRange) else { return }
        let i = Self.slot(key, &stations, &stationTable, make: StationRecord.init(key:))
        let current = stations[i].current
        guard current.ref.isNone || precedes(current.ref, env.ref) else { return }
        if !current.ref.isNone {
            let before = stationContribution(i)
            updateBucket(BucketKey(sector: before.sector, day: before.day), removing: true) { $0.stations[Int(before.status)] &-= 1 }
        }
        stations[i].current = env.mark
        stations[i].status = status
        let after = stationContribution(i)
        updateBucket(BucketKey(sector: after.sector, day: after.day)) { $0.stations[Int(after.status)] &+= 1 }
    }

    func stationContribution(_ i: Int) -> StationContribution {
        let s = stations[i]
        return StationContribution(
            sector: s.current.sector, day: Int32(clamping: RFC3339.dayNumber(millis: s.current.recordedAt)),
            status: s.status)
    }

    mutating func applySighting(_ p: PayloadReader, _ data: Range<Int>, _ env: Envelope) {
        guard let kindRange = p.member("kind", of: data), let kind = p.code(kindRange, in: FoldCodes.sightingKinds)
        else { return }
        updateBucket(BucketKey(sector: env.sector, day: env.day)) { $0.sightings[Int(kind)] &+= 1 }
    }
}

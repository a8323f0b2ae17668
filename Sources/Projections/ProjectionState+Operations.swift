import IncidentModel

// Folding the operational events: medevacs, election material and personnel, polling stations
// and sightings (semantics in ProjectionState.swift).
extension ProjectionState {
    // MARK: Medevacs

    mutating func applyMedevac(_ key: EntityKey, _ incident: EntityKey?, _ env: Envelope) {
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
        // Set only for a request (see PayloadInput).
        if let incident { linkToIncident(incident, env) }
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

    mutating func applyConsignment(_ key: EntityKey, _ named: [(name: String, count: Int64)], _ env: Envelope) {
        let isDispatch = FoldCodes.types[Int(env.type)] == .electionMaterialDispatched
        var items: [ItemCount] = []
        for (name, count) in named {
            guard let slot = itemSlot(name) else { continue }
            items.append(ItemCount(item: slot, count: count))
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

    mutating func applyPersonnel(_ count: Int64, _ env: Envelope) {
        updateBucket(BucketKey(sector: env.sector, day: env.day)) { $0.personnel &+= SIMD2(count, 1) }
    }

    // MARK: Polling stations and sightings

    mutating func applyStation(_ key: EntityKey, _ status: UInt8, _ env: Envelope) {
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

    mutating func applySighting(_ kind: UInt8, _ env: Envelope) {
        updateBucket(BucketKey(sector: env.sector, day: env.day)) { $0.sightings[Int(kind)] &+= 1 }
    }
}

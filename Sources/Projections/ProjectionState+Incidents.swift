import IncidentModel

// Folding the incident events: registers, status, verification, retraction and casualty
// reports (semantics in ProjectionState.swift).
extension ProjectionState {
    mutating func incidentSlot(_ key: EntityKey) -> Int {
        Self.slot(key, &incidents, &incidentTable, make: IncidentRecord.init(key:))
    }

    /// Adds the event to the incident's history and returns its node.
    mutating func addHistory(_ i: Int, _ env: Envelope) -> UInt32 {
        let node = UInt32(history.count)
        history.append(HistoryNode(ref: env.ref, next: incidents[i].head, type: env.type))
        incidents[i].head = node
        incidents[i].historyCount &+= 1
        return node
    }

    /// The incident's part of the counts, or nil when it counts nowhere.
    func incidentContribution(_ i: Int) -> IncidentContribution? {
        // Field by field: copying the whole record would retain and release its arrays.
        guard incidents[i].created != noNode, !incidents[i].retracted else { return nil }
        let (figure, disputed) = casualtyFigure(incidents[i].casualties)
        return IncidentContribution(
            sector: incidents[i].sector, day: incidents[i].day, category: incidents[i].category,
            open: incidents[i].status == FoldCodes.statusOpen, casualties: figure?.counts ?? SIMD16<Int32>(),
            disputed: disputed)
    }

    /// The latest report overall, and whether the standing reports of the origins differ.
    func casualtyFigure(_ reports: [CasualtyReport]) -> (CasualtyReport?, Bool) {
        guard var latest = reports.first else { return (nil, false) }
        var disputed = false
        for r in reports.dropFirst() {
            if r.counts != reports[0].counts { disputed = true }
            if precedes(history[Int(latest.node)].ref, history[Int(r.node)].ref) { latest = r }
        }
        return (latest, disputed)
    }

    /// Moves the incident's part of the counts from `before` to what it is now.
    mutating func commitIncident(_ i: Int, from before: IncidentContribution?) {
        let after = incidentContribution(i)
        // A counted incident's sector re-renders even when its counts stay: its disputed entry
        // (reports, figure, place in the list) may have changed.
        if let b = before { touch(sector: b.sector) }
        if let a = after { touch(sector: a.sector) }
        guard before != after else { return }
        if let b = before {
            updateBucket(BucketKey(sector: b.sector, day: b.day), removing: true) { $0.add(b, sign: -1) }
            if b.disputed { disputed.remove(UInt32(i)) }
        }
        if let a = after {
            updateBucket(BucketKey(sector: a.sector, day: a.day)) { $0.add(a, sign: 1) }
            if a.disputed { disputed.insert(UInt32(i)) }
        }
    }

    /// Sets the registers in `present` (a bit per `FoldCodes.incidentFields`) where `node` is later.
    mutating func setRegisters(_ i: Int, node: UInt32, present: UInt8, category: UInt8, occurredAt: Int64) {
        for f in 0..<FoldCodes.incidentFields.count where present & (1 << f) != 0 {
            guard isLater(node, than: incidents[i].registers[f]) else { continue }
            incidents[i].registers[f] = node
            if f == FoldCodes.fieldCategory { incidents[i].category = category }
            if f == FoldCodes.fieldOccurredAt { incidents[i].occurredAt = occurredAt }
        }
    }

    mutating func applyIncidentReported(_ key: EntityKey, _ fields: IncidentFields, _ env: Envelope) {
        let i = incidentSlot(key)
        let listed = listing(i)
        let node = addHistory(i, env)
        let before = incidentContribution(i)
        if isEarlier(node, than: incidents[i].created) {
            incidents[i].created = node
            incidents[i].sector = env.sector
        }
        setRegisters(i, node: node, present: fields.present, category: fields.category, occurredAt: fields.occurredAt)
        commitIncident(i, from: before)
        relist(i, from: listed)
    }

    mutating func applyIncidentUpdated(_ key: EntityKey, _ fields: IncidentFields, _ status: UInt8?, _ env: Envelope) {
        let i = incidentSlot(key)
        let listed = listing(i)
        let node = addHistory(i, env)
        let before = incidentContribution(i)
        setRegisters(i, node: node, present: fields.present, category: fields.category, occurredAt: fields.occurredAt)
        if let status { setStatus(i, node: node, status: status) }
        commitIncident(i, from: before)
        relist(i, from: listed)
    }

    mutating func setStatus(_ i: Int, node: UInt32, status: UInt8) {
        guard isLater(node, than: incidents[i].statusNode) else { return }
        incidents[i].statusNode = node
        incidents[i].status = status
    }

    mutating func applyIncidentVerified(_ key: EntityKey, _ status: UInt8, _ env: Envelope) {
        let i = incidentSlot(key)
        let listed = listing(i)
        let node = addHistory(i, env)
        // Verification does not change any count; no contribution to move.
        if isLater(node, than: incidents[i].verificationNode) {
            incidents[i].verificationNode = node
            incidents[i].verification = status
        }
        relist(i, from: listed)
    }

    mutating func applyIncidentClosed(_ key: EntityKey, _ env: Envelope) {
        let i = incidentSlot(key)
        let listed = listing(i)
        let node = addHistory(i, env)
        let before = incidentContribution(i)
        setStatus(i, node: node, status: FoldCodes.statusClosed)
        commitIncident(i, from: before)
        relist(i, from: listed)
    }

    mutating func applyIncidentRetracted(_ key: EntityKey, _ env: Envelope) {
        let i = incidentSlot(key)
        let listed = listing(i)
        _ = addHistory(i, env)
        let before = incidentContribution(i)
        incidents[i].retracted = true
        commitIncident(i, from: before)
        relist(i, from: listed)
    }

    mutating func applyCasualties(_ key: EntityKey, _ counts: SIMD16<Int32>, _ env: Envelope) {
        let i = incidentSlot(key)
        let node = addHistory(i, env)
        let before = incidentContribution(i)
        let report = CasualtyReport(node: node, counts: counts)
        let origin = env.ref.origin
        if let r = incidents[i].casualties.firstIndex(where: { history[Int($0.node)].ref.origin == origin }) {
            if isLater(node, than: incidents[i].casualties[r].node) { incidents[i].casualties[r] = report }
        } else {
            incidents[i].casualties.append(report)
        }
        commitIncident(i, from: before)
    }

    /// A medevac request naming an incident joins the incident's history.
    mutating func linkToIncident(_ key: EntityKey, _ env: Envelope) {
        let i = incidentSlot(key)
        _ = addHistory(i, env)
    }
}

public import IncidentModel

/// Finds a stored event by its id (`origin:seq`), e.g. `{ try? store.event(id: $0) ?? nil }`.
///
/// The fold keeps no payloads (a million events' summaries and locations would not fit the
/// memory budget); the incident views read the few values they show back from the log.
public typealias EventLookup = (String) -> Event?

// The incident view:
//
//   {"casualties":{"disputed":false,"figure":{"counts":{…},"event":"gao:9"}|null,
//                  "reports":[{"counts":{…},"event":"gao:9","hlc":"…","origin":"gao"},…]},
//    "counted":true,
//    "fields":{"actors":{"event":"gao:3","value":[…]},"category":{…},…},
//    "history":[{"hlc":"…","id":"gao:3","type":"incident.reported"},…],
//    "incident_id":"…","reported_by":"gao:3"|null,"retracted":false,
//    "retractions":[{"duplicate_of":"…"?,"event":"…","reason":"duplicate"}],
//    "sector":"east"|null,"status":{"event":"gao:3","value":"open"},
//    "verification":{"event":"gao:3","value":"unverified"}}
//
// Each field shows the event that set it (the winner of its register) and the value as that
// event wrote it. `status` and `verification` without an explicit event are the defaults set by
// the report. `counted` is false for a retracted incident, and for one whose report is not held
// yet (events naming it arrived first). History and retractions are in the fold's total order
// (hlc, origin, seq); casualty reports by origin name.
//
// Two steps, as for a page of the incidents list (ProjectionState+IncidentList.swift), so that
// the fold's lock is not held while the view reads the log: `incidentViewPage` writes every byte
// the state decides, leaving a hole for each value read back from a stored event (each field's
// value, each retraction's `duplicate_of` and `reason`); `IncidentPage.render` reads those events
// and fills the holes after the lock is released.
extension ProjectionState {
    /// The view of one incident, or nil when no event names it (`incidentViewPage(id:)` rendered
    /// at once, for callers that hold the state itself).
    public func incidentView(id: String, lookup: EventLookup) -> [UInt8]? {
        incidentViewPage(id: id)?.render(lookup: lookup)
    }

    /// The view of one incident as the state has it now, but for the values read back from the
    /// log, which `render` adds; nil when no event names the incident.
    public func incidentViewPage(id: String) -> IncidentPage? {
        let key = EntityKey(id)
        guard let slot = incidentTable.find(key, hash: key.tableHash, in: incidents) else { return nil }
        let r = incidents[Int(slot)]
        let nodes = historyNodes(of: r)
        var w = JSONWriter(reservingCapacity: 2048)
        var holes: [IncidentPage.Hole] = []
        func hole(_ event: String, _ value: IncidentPage.Value) {
            holes.append(IncidentPage.Hole(at: w.bytes.count, row: 0, event: event, value: value))
        }

        w.raw("{\"casualties\":{\"disputed\":")
        let (figure, isDisputed) = casualtyFigure(r.casualties)
        w.bool(isDisputed)
        w.raw(",\"figure\":")
        if let figure {
            w.raw("{\"counts\":")
            Self.writeCasualtyGroups(SIMD16<Int64>(truncatingIfNeeded: figure.counts), to: &w)
            w.raw(",\"event\":")
            w.string(eventID(history[Int(figure.node)].ref))
            w.raw(UInt8(ascii: "}"))
        } else {
            w.raw("null")
        }
        w.raw(",\"reports\":")
        writeCasualtyReports(r.casualties, to: &w)
        w.raw(UInt8(ascii: "}"))

        w.key("counted")
        w.bool(r.isReported && !r.retracted)

        w.key("fields")
        w.raw(UInt8(ascii: "{"))
        // In increasing order of name, as in a payload: `render` walks each event's payload once.
        for (f, name) in sortedByName(FoldCodes.incidentFieldNames) where r.registers[f] != noNode {
            let node = r.registers[f]
            let id = eventID(history[Int(node)].ref)
            w.key(name)
            w.raw("{\"event\":")
            w.string(id)
            w.raw(",\"value\":")
            let isUpdate = history[Int(node)].type == FoldCodes.code(.incidentUpdated)
            hole(id, .field(FoldCodes.incidentFields[f], inChanges: isUpdate, orElse: .null))
            w.raw(UInt8(ascii: "}"))
        }
        w.raw(UInt8(ascii: "}"))

        w.key("history")
        w.raw(UInt8(ascii: "["))
        for n in nodes {
            let ref = history[Int(n)].ref
            w.element()
            w.raw("{\"hlc\":")
            w.hlc(ref.wall, ref.counter)
            w.raw(",\"id\":")
            w.string(eventID(ref))
            w.raw(",\"type\":")
            w.string(FoldCodes.types[Int(history[Int(n)].type)].rawValue)
            w.raw(UInt8(ascii: "}"))
        }
        w.raw(UInt8(ascii: "]"))

        w.key("incident_id")
        r.key.write(to: &w)
        w.key("reported_by")
        writeEventID(r.created, to: &w)
        w.key("retracted")
        w.bool(r.retracted)

        w.key("retractions")
        w.raw(UInt8(ascii: "["))
        let retractedCode = FoldCodes.code(.incidentRetracted)
        for n in nodes where history[Int(n)].type == retractedCode {
            let id = eventID(history[Int(n)].ref)
            w.element()
            w.raw(UInt8(ascii: "{"))
            hole(id, .optionalMember("duplicate_of"))  // `"duplicate_of":…,` when the event has one
            w.key("event")
            w.string(id)
            w.key("reason")
            hole(id, .field("reason", inChanges: false, orElse: .null))
            w.raw(UInt8(ascii: "}"))
        }
        w.raw(UInt8(ascii: "]"))

        w.key("sector")
        if r.isReported { w.string(sectorName(r.sector)) } else { w.raw("null") }

        w.key("status")
        w.raw("{\"event\":")
        writeEventID(r.statusNode != noNode ? r.statusNode : r.created, to: &w)
        w.raw(",\"value\":")
        w.string(Vocabulary.incidentStatuses[Int(r.status)])
        w.raw(UInt8(ascii: "}"))

        w.key("verification")
        w.raw("{\"event\":")
        writeEventID(r.verificationNode != noNode ? r.verificationNode : r.created, to: &w)
        w.raw(",\"value\":")
        w.string(Vocabulary.verificationStatuses[Int(r.verification)])
        w.raw("}}")
        return IncidentPage(literal: w, holes: holes, rows: 1)
    }

    /// The incident's history nodes in the fold's total order.
    func historyNodes(of r: IncidentRecord) -> [UInt32] {
        var nodes: [UInt32] = []
        nodes.reserveCapacity(Int(r.historyCount))
        var n = r.head
        while n != noNode, nodes.count < history.count {
            nodes.append(n)
            n = history[Int(n)].next
        }
        return nodes.sorted { precedes(history[Int($0)].ref, history[Int($1)].ref) }
    }

    func writeEventID(_ node: UInt32, to w: inout JSONWriter) {
        if node == noNode { w.raw("null") } else { w.string(eventID(history[Int(node)].ref)) }
    }

}

extension ProjectionState {
    /// The sector of incident `id`: the envelope sector of its creating `incident.reported`.
    /// Nil when no report of it has been folded (only events naming it, or nothing at all).
    public func incidentSector(id: String) -> String? {
        let key = EntityKey(id)
        guard let slot = incidentTable.find(key, hash: key.tableHash, in: incidents) else { return nil }
        let r = incidents[Int(slot)]
        guard r.isReported else { return nil }
        return sectorName(r.sector)
    }
}

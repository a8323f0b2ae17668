import IncidentModel

// Encoding the state as the snapshot payload, field by field (layout in ProjectionSnapshot.swift).
// Decoding checks every index it reads against the tables it refers to, so that even a payload
// with a valid checksum cannot make a later apply or query read out of bounds.
extension ProjectionState {
    func encodePayload(logOffset: UInt64) -> [UInt8] {
        var w = BinaryWriter()
        w.bytes.reserveCapacity(64 + history.count * 27 + incidents.count * 90)
        w.put(logOffset)
        w.put(eventCount)
        w.putCount(sectors.count)
        for s in sectors { w.put(s) }
        w.put(quarantinedCount)
        w.putCount(quarantineSample.count)
        for q in quarantineSample {
            w.put(q.id)
            w.put(q.reason)
        }
        w.putCount(origins.count)
        for o in origins {
            w.put(o.name)
            w.put(o.seq)
            w.put(o.hlc.wallMillis)
            w.put(o.hlc.counter)
            w.put(o.recordedAt)
        }
        w.putCount(sectorNames.count)
        for s in sectorNames { w.put(s) }
        w.putCount(itemNames.count)
        for s in itemNames { w.put(s) }
        w.putCount(history.count)
        for n in history {
            Self.put(n.ref, &w)
            w.put(n.next)
            w.put(n.type)
        }
        w.putCount(incidents.count)
        for r in incidents {
            Self.put(r.key, &w)
            w.put(r.head)
            w.put(r.created)
            w.put(r.sector)
            for f in 0..<8 { w.put(r.registers[f]) }
            w.put(r.statusNode)
            w.put(r.verificationNode)
            w.put(r.occurredAt)
            w.put(r.category)
            w.put(r.status)
            w.put(r.verification)
            w.put(r.retracted)
            w.put(r.historyCount)
            w.putCount(r.casualties.count)
            for c in r.casualties {
                w.put(c.node)
                for lane in 0..<15 { w.put(c.counts[lane]) }
            }
        }
        w.putCount(medevacs.count)
        for m in medevacs {
            Self.put(m.key, &w)
            for mark in [m.first, m.request, m.dispatch, m.completion] { Self.put(mark, &w) }
        }
        w.putCount(consignments.count)
        for c in consignments {
            Self.put(c.key, &w)
            Self.put(c.first, &w)
            Self.put(c.dispatch, &w)
            Self.put(c.items, &w)
            Self.put(c.delivery, &w)
        }
        w.putCount(stations.count)
        for s in stations {
            Self.put(s.key, &w)
            Self.put(s.current, &w)
            w.put(s.status)
        }
        w.putCount(buckets.count)
        for (k, b) in buckets {
            w.put(k.sector)
            w.put(k.day)
            for lane in 0..<16 { w.put(b.incidentsTotal[lane]) }
            for lane in 0..<16 { w.put(b.incidentsOpen[lane]) }
            for lane in 0..<16 { w.put(b.casualties[lane]) }
            for lane in 0..<4 { w.put(b.medevacs[lane]) }
            for lane in 0..<4 { w.put(b.consignments[lane]) }
            for lane in 0..<2 { w.put(b.personnel[lane]) }
            for lane in 0..<8 { w.put(b.stations[lane]) }
            for lane in 0..<4 { w.put(b.sightings[lane]) }
            w.putCount(b.dispatchDelays.count)
            for d in b.dispatchDelays { w.put(d) }
            Self.put(b.itemsDispatched, &w)
            Self.put(b.itemsDelivered, &w)
        }
        w.putCount(disputed.count)
        for i in disputed { w.put(i) }
        return w.bytes
    }

    static func put(_ ref: Ref, _ w: inout BinaryWriter) {
        w.put(ref.wall)
        w.put(ref.seq)
        w.put(ref.counter)
        w.put(ref.origin)
    }

    static func put(_ mark: Mark, _ w: inout BinaryWriter) {
        put(mark.ref, &w)
        w.put(mark.sector)
        w.put(mark.recordedAt)
    }

    static func put(_ key: EntityKey, _ w: inout BinaryWriter) {
        switch key {
        case .uuid(let hi, let lo):
            w.put(UInt8(0))
            w.put(hi)
            w.put(lo)
        case .text(let s):
            w.put(UInt8(1))
            w.put(s)
        }
    }

    static func put(_ items: [ItemCount], _ w: inout BinaryWriter) {
        w.putCount(items.count)
        for i in items {
            w.put(i.item)
            w.put(i.count)
        }
    }

    static func put(_ items: [UInt16: Int64], _ w: inout BinaryWriter) {
        w.putCount(items.count)
        for (k, v) in items {
            w.put(k)
            w.put(v)
        }
    }

    /// Rebuilds a state from `encodePayload`'s bytes.
    static func decodePayload(_ bytes: UnsafeBufferPointer<UInt8>, sectors: [String]) throws(ProjectionSnapshotError)
        -> (state: ProjectionState, logOffset: UInt64)
    {
        var r = BinaryReader(bytes)
        var s = ProjectionState(sectors: sectors)
        let logOffset = try r.get(UInt64.self)
        s.eventCount = try r.get()
        var folded: [String] = []
        for _ in 0..<(try r.count(minimumSize: 4)) { folded.append(try r.string()) }
        // Which events were quarantined depends on the sector list: a state folded with another
        // list is not this configuration's fold.
        guard folded == sectors else {
            throw ProjectionSnapshotError(
                .sectorsChanged, "folded with sectors \(folded.joined(separator: ",")), configured \(sectors.joined(separator: ","))")
        }
        s.quarantinedCount = try r.get()
        for _ in 0..<(try r.count(minimumSize: 8)) {
            s.quarantineSample.append(QuarantinedEvent(id: try r.string(), reason: try r.string()))
        }
        guard s.quarantineSample.count <= quarantineSampleLimit else { throw .malformed("quarantine sample") }
        for _ in 0..<(try r.count(minimumSize: 28)) {
            var o = OriginRecord(name: try r.string())
            o.seq = try r.get()
            o.hlc = HLCTimestamp(wallMillis: try r.get(), counter: try r.get())
            o.recordedAt = try r.string()
            guard s.originIndex[o.name] == nil, s.origins.count < Int(UInt16.max) else { throw .malformed("origin table") }
            s.originIndex[o.name] = UInt16(s.origins.count)
            s.origins.append(o)
        }
        s.rankOrigins()
        for _ in 0..<(try r.count(minimumSize: 4)) { s.sectorNames.append(try r.string()) }
        for _ in 0..<(try r.count(minimumSize: 4)) {
            let name = try r.string()
            guard s.itemIndex[name] == nil else { throw .malformed("item table") }
            s.itemIndex[name] = UInt16(s.itemNames.count)
            s.itemNames.append(name)
        }
        guard s.sectorNames.count <= Int(UInt16.max), s.itemNames.count <= Int(UInt16.max) else {
            throw .malformed("tables too large")
        }
        let nodeCount = try r.count(minimumSize: 27)
        for _ in 0..<nodeCount {
            let ref = try s.readRef(&r)
            let next: UInt32 = try r.get()
            let type: UInt8 = try r.get()
            guard next == noNode || Int(next) < nodeCount, Int(type) < FoldCodes.types.count else {
                throw .malformed("history node")
            }
            s.history.append(HistoryNode(ref: ref, next: next, type: type))
        }
        func node(_ n: UInt32) throws(ProjectionSnapshotError) -> UInt32 {
            guard n == noNode || Int(n) < nodeCount else { throw .malformed("node index") }
            return n
        }
        let incidentCount = try r.count(minimumSize: 70)
        for _ in 0..<incidentCount {
            var rec = IncidentRecord(key: try readKey(&r))
            rec.head = try node(try r.get())
            rec.created = try node(try r.get())
            rec.sector = try s.readSector(&r)
            for f in 0..<8 { rec.registers[f] = try node(try r.get()) }
            rec.statusNode = try node(try r.get())
            rec.verificationNode = try node(try r.get())
            rec.occurredAt = try r.get()
            rec.category = try r.get()
            rec.status = try r.get()
            rec.verification = try r.get()
            rec.retracted = try r.bool()
            rec.historyCount = try r.get()
            guard Int(rec.category) < Vocabulary.incidentCategories.count,
                Int(rec.status) < Vocabulary.incidentStatuses.count,
                Int(rec.verification) < Vocabulary.verificationStatuses.count
            else { throw .malformed("incident codes") }
            for _ in 0..<(try r.count(minimumSize: 64)) {
                let n = try node(try r.get())
                guard n != noNode else { throw .malformed("casualty report") }
                var counts = SIMD16<Int32>()
                for lane in 0..<15 { counts[lane] = try r.get() }
                rec.casualties.append(CasualtyReport(node: n, counts: counts))
            }
            let hash = rec.key.tableHash
            guard s.incidentTable.find(rec.key, hash: hash, in: s.incidents) == nil else { throw .malformed("duplicate incident") }
            s.incidents.append(rec)
            s.incidentTable.insert(hash: hash, position: s.incidents.count - 1)
        }
        for _ in 0..<(try r.count(minimumSize: 130)) {
            var m = MedevacRecord(key: try readKey(&r))
            m.first = try s.readMark(&r)
            m.request = try s.readMark(&r)
            m.dispatch = try s.readMark(&r)
            m.completion = try s.readMark(&r)
            let hash = m.key.tableHash
            guard s.medevacTable.find(m.key, hash: hash, in: s.medevacs) == nil else { throw .malformed("duplicate medevac") }
            s.medevacs.append(m)
            s.medevacTable.insert(hash: hash, position: s.medevacs.count - 1)
        }
        for _ in 0..<(try r.count(minimumSize: 100)) {
            var c = ConsignmentRecord(key: try readKey(&r))
            c.first = try s.readMark(&r)
            c.dispatch = try s.readMark(&r)
            for _ in 0..<(try r.count(minimumSize: 10)) {
                let item: UInt16 = try r.get()
                guard Int(item) < s.itemNames.count else { throw .malformed("item index") }
                c.items.append(ItemCount(item: item, count: try r.get()))
            }
            c.delivery = try s.readMark(&r)
            let hash = c.key.tableHash
            guard s.consignmentTable.find(c.key, hash: hash, in: s.consignments) == nil else { throw .malformed("duplicate consignment") }
            s.consignments.append(c)
            s.consignmentTable.insert(hash: hash, position: s.consignments.count - 1)
        }
        for _ in 0..<(try r.count(minimumSize: 35)) {
            var st = StationRecord(key: try readKey(&r))
            st.current = try s.readMark(&r)
            st.status = try r.get()
            guard Int(st.status) < Vocabulary.pollingStationStatuses.count else { throw .malformed("station status") }
            let hash = st.key.tableHash
            guard s.stationTable.find(st.key, hash: hash, in: s.stations) == nil else { throw .malformed("duplicate station") }
            s.stations.append(st)
            s.stationTable.insert(hash: hash, position: s.stations.count - 1)
        }
        for _ in 0..<(try r.count(minimumSize: 570)) {
            let key = BucketKey(sector: try s.readSector(&r), day: try r.get())
            var b = Bucket()
            for lane in 0..<16 { b.incidentsTotal[lane] = try r.get() }
            for lane in 0..<16 { b.incidentsOpen[lane] = try r.get() }
            for lane in 0..<16 { b.casualties[lane] = try r.get() }
            for lane in 0..<4 { b.medevacs[lane] = try r.get() }
            for lane in 0..<4 { b.consignments[lane] = try r.get() }
            for lane in 0..<2 { b.personnel[lane] = try r.get() }
            for lane in 0..<8 { b.stations[lane] = try r.get() }
            for lane in 0..<4 { b.sightings[lane] = try r.get() }
            for _ in 0..<(try r.count(minimumSize: 8)) { b.dispatchDelays.append(try r.get()) }
            b.itemsDispatched = try s.readItemMap(&r)
            b.itemsDelivered = try s.readItemMap(&r)
            guard s.buckets[key] == nil else { throw .malformed("duplicate bucket") }
            s.buckets[key] = b
        }
        for _ in 0..<(try r.count(minimumSize: 4)) {
            let i: UInt32 = try r.get()
            guard Int(i) < s.incidents.count else { throw .malformed("disputed index") }
            s.disputed.insert(i)
        }
        guard r.atEnd else { throw .malformed("unexpected bytes after the payload") }
        // The list index is a function of the incident records: rebuilt, not stored.
        s.rebuildIncidentList()
        s.rebuildSectorTotals()
        return (s, logOffset)
    }

    func readRef(_ r: inout BinaryReader) throws(ProjectionSnapshotError) -> Ref {
        let ref = Ref(wall: try r.get(), seq: try r.get(), counter: try r.get(), origin: try r.get())
        guard ref.isNone || Int(ref.origin) < origins.count else { throw .malformed("origin index") }
        return ref
    }

    func readMark(_ r: inout BinaryReader) throws(ProjectionSnapshotError) -> Mark {
        Mark(ref: try readRef(&r), sector: try readSector(&r), recordedAt: try r.get())
    }

    func readSector(_ r: inout BinaryReader) throws(ProjectionSnapshotError) -> UInt16 {
        let sector: UInt16 = try r.get()
        // Sector 0 is the placeholder of records that have none yet (an incident not reported).
        guard Int(sector) < sectorNames.count || sector == 0 else { throw .malformed("sector index") }
        return sector
    }

    func readItemMap(_ r: inout BinaryReader) throws(ProjectionSnapshotError) -> [UInt16: Int64] {
        var items: [UInt16: Int64] = [:]
        for _ in 0..<(try r.count(minimumSize: 10)) {
            let k: UInt16 = try r.get()
            guard Int(k) < itemNames.count else { throw .malformed("item index") }
            items[k] = try r.get()
        }
        return items
    }

    static func readKey(_ r: inout BinaryReader) throws(ProjectionSnapshotError) -> EntityKey {
        switch try r.get(UInt8.self) {
        case 0: return .uuid(try r.get(), try r.get())
        case 1:
            let s = try r.string()
            guard !s.isEmpty else { throw .malformed("empty id") }
            // The same text must map to the same key as in a fold, or lookups would miss it.
            let key = EntityKey(s)
            guard case .text = key else { throw .malformed("uuid stored as text") }
            return key
        default: throw .malformed("entity key tag")
        }
    }
}

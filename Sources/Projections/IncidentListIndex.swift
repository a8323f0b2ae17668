import IncidentModel

// The index behind the incidents list (ProjectionState+IncidentList.swift), kept by the fold.
//
// - `blocks`: every reported incident (retracted ones included), in the list's order — newest
//   `occurred_at` first, then id (`EntityKey.precedes`) — as a list of sorted blocks of at most
//   `blockLimit` entries. Finding a place (a cursor, a range end, an insert) is a binary search
//   over the blocks' last entries, then one within a block; an insert or removal moves at most
//   one block's entries. An entry holds the incident's `occurred_at` and its record's position.
// - `cells`: how many listed incidents fall in each filter cell, sector × category ×
//   status-as-listed (open, closed, retracted) × verification, so that `total` without a range
//   is a sum over the cells.
//
// The fold moves an incident when its report arrives, when `occurred_at` changes (re-insert)
// and when a filter field changes (cell counts only). The index is a function of the incident
// records alone, so a snapshot does not store it: loading rebuilds it by one sort.
struct IncidentListIndex: Sendable {
    struct Entry: Equatable, Sendable {
        var occurredAt: Int64
        var incident: UInt32
    }

    /// A filter cell: the fields the list filters on besides the range.
    struct Cell: Hashable, Sendable {
        var sector: UInt16
        var category: UInt8
        /// 0 open, 1 closed, 2 retracted (`IncidentQuery.statuses`).
        var listedStatus: UInt8
        var verification: UInt8
    }

    /// Where an incident stands in the list: its order key and its filter cell.
    struct Listing: Equatable, Sendable {
        var occurredAt: Int64
        var cell: Cell
    }

    /// A place in the list: block, then offset within it.
    struct Position: Comparable {
        var block: Int
        var offset: Int
        static func < (a: Position, b: Position) -> Bool { (a.block, a.offset) < (b.block, b.offset) }
    }

    static let blockLimit = 512

    private(set) var blocks: [[Entry]] = []
    private(set) var cells: [Cell: Int] = [:]

    var end: Position { Position(block: blocks.count, offset: 0) }

    /// The first place whose entry satisfies `p`, which must be false then true along the list.
    func firstPosition(where p: (Entry) -> Bool) -> Position {
        var lo = 0
        var hi = blocks.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if p(blocks[mid][blocks[mid].count - 1]) { hi = mid } else { lo = mid + 1 }
        }
        guard lo < blocks.count else { return end }
        let block = blocks[lo]
        var a = 0
        var b = block.count - 1
        while a < b {
            let mid = (a + b) / 2
            if p(block[mid]) { b = mid } else { a = mid + 1 }
        }
        return Position(block: lo, offset: a)
    }

    /// The entry at `p` (not `end`), and the place after it.
    func entry(at p: Position) -> Entry { blocks[p.block][p.offset] }

    func after(_ p: Position) -> Position {
        p.offset + 1 < blocks[p.block].count ? Position(block: p.block, offset: p.offset + 1) : Position(block: p.block + 1, offset: 0)
    }

    /// Whether `a` comes before `b` in the list.
    static func before(_ a: Entry, _ b: Entry, _ incidents: ChunkedArray<IncidentRecord>) -> Bool {
        if a.occurredAt != b.occurredAt { return a.occurredAt > b.occurredAt }
        return EntityKey.precedes(incidents[Int(a.incident)].key, incidents[Int(b.incident)].key)
    }

    mutating func insert(_ e: Entry, _ incidents: ChunkedArray<IncidentRecord>) {
        guard !blocks.isEmpty else {
            blocks.append([e])
            return
        }
        var p = firstPosition { Self.before(e, $0, incidents) }
        if p.block == blocks.count { p = Position(block: blocks.count - 1, offset: blocks[blocks.count - 1].count) }
        blocks[p.block].insert(e, at: p.offset)
        if blocks[p.block].count > Self.blockLimit {
            let tail = Array(blocks[p.block][(Self.blockLimit / 2)...])
            blocks[p.block].removeSubrange((Self.blockLimit / 2)...)
            blocks.insert(tail, at: p.block + 1)
        }
    }

    mutating func remove(_ e: Entry, _ incidents: ChunkedArray<IncidentRecord>) {
        let p = firstPosition { !Self.before($0, e, incidents) }
        guard p.block < blocks.count, entry(at: p) == e else {
            assertionFailure("incident list index lost an entry")
            return
        }
        blocks[p.block].remove(at: p.offset)
        if blocks[p.block].isEmpty { blocks.remove(at: p.block) }
    }

    /// Moves incident `i` from `old` to `new` (nil: not listed).
    mutating func move(_ i: Int, from old: Listing?, to new: Listing?, _ incidents: ChunkedArray<IncidentRecord>) {
        guard old != new else { return }
        if let old {
            if old.occurredAt != new?.occurredAt { remove(Entry(occurredAt: old.occurredAt, incident: UInt32(i)), incidents) }
            cells[old.cell, default: 0] -= 1
            if cells[old.cell] == 0 { cells[old.cell] = nil }
        }
        if let new {
            if old?.occurredAt != new.occurredAt { insert(Entry(occurredAt: new.occurredAt, incident: UInt32(i)), incidents) }
            cells[new.cell, default: 0] += 1
        }
    }

    /// The index of the listed incidents `listings` (position, listing), built by one sort.
    init(_ listings: [(Int, Listing)], _ incidents: ChunkedArray<IncidentRecord>) {
        var entries: [Entry] = []
        entries.reserveCapacity(listings.count)
        for (i, l) in listings {
            entries.append(Entry(occurredAt: l.occurredAt, incident: UInt32(i)))
            cells[l.cell, default: 0] += 1
        }
        entries.sort { Self.before($0, $1, incidents) }
        var start = 0
        while start < entries.count {
            let stop = min(start + Self.blockLimit / 2, entries.count)
            blocks.append(Array(entries[start..<stop]))
            start = stop
        }
    }

    init() {}
}

extension ProjectionState {
    /// Where incident `i` stands in the list now, for `relist(_:from:)` after a change.
    func listing(_ i: Int) -> IncidentListIndex.Listing? {
        // Field by field: copying the whole record would retain and release its arrays.
        guard incidents[i].created != noNode else { return nil }
        let listed: UInt8 = incidents[i].retracted ? 2 : (incidents[i].status == FoldCodes.statusOpen ? 0 : 1)
        return IncidentListIndex.Listing(
            occurredAt: incidents[i].occurredAt,
            cell: IncidentListIndex.Cell(
                sector: incidents[i].sector, category: incidents[i].category, listedStatus: listed,
                verification: incidents[i].verification))
    }

    /// Builds the list index from the incident records (after loading a snapshot).
    mutating func rebuildIncidentList() {
        incidentList = IncidentListIndex(incidents.indices.compactMap { i in listing(i).map { (i, $0) } }, incidents)
    }

    /// Moves incident `i` in the list index from where it stood before a change.
    mutating func relist(_ i: Int, from old: IncidentListIndex.Listing?) {
        incidentList.move(i, from: old, to: listing(i), incidents)
    }
}

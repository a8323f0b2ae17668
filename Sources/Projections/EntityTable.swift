/// A record with an entity id.
protocol KeyedRecord {
    var key: EntityKey { get }
}

extension IncidentRecord: KeyedRecord {}
extension MedevacRecord: KeyedRecord {}
extension ConsignmentRecord: KeyedRecord {}
extension StationRecord: KeyedRecord {}

/// The index from entity id to record position: open addressing with linear probing over one
/// word per slot (32 bits of the id's hash, and the position + 1; 0 is an empty slot).
///
/// A `Dictionary<EntityKey, UInt32>` costs 28 bytes a slot and a SipHash per lookup; with 300k
/// incidents per million events that was 15 MB and a tenth of the fold's time. Here a slot is
/// 8 bytes, the hash is a multiply-and-shift mix, and the id itself is compared in the record
/// only when 32 bits of hash agree. Entities are never removed, so there are no tombstones. The
/// table is an index, not state: snapshots rebuild it from the records.
struct EntityTable: Sendable {
    private(set) var slots = [UInt64](repeating: 0, count: 16)
    private(set) var count = 0

    /// Position of the record with `key` in `records`, or nil.
    @inline(__always)
    func find<R: KeyedRecord>(_ key: EntityKey, hash: UInt32, in records: ChunkedArray<R>) -> Int? {
        let mask = slots.count - 1
        var i = Int(hash) & mask
        while true {
            let s = slots[i]
            if s == 0 { return nil }
            if UInt32(truncatingIfNeeded: s >> 32) == hash {
                let position = Int(UInt32(truncatingIfNeeded: s)) - 1
                if records[position].key == key { return position }
            }
            i = (i + 1) & mask
        }
    }

    /// Adds a record known not to be in the table yet.
    mutating func insert(hash: UInt32, position: Int) {
        if (count + 1) * 4 > slots.count * 3 { grow() }
        place(UInt64(hash) << 32 | UInt64(position + 1))
        count += 1
    }

    private mutating func place(_ entry: UInt64) {
        let mask = slots.count - 1
        var i = Int(UInt32(truncatingIfNeeded: entry >> 32)) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = entry
    }

    private mutating func grow() {
        let old = slots
        slots = [UInt64](repeating: 0, count: old.count * 2)
        // The probe start comes from the stored hash bits, so growing needs no record.
        for entry in old where entry != 0 { place(entry) }
    }
}

extension EntityKey {
    /// 32 well-mixed bits for `EntityTable` (a function of the id only, like everything the
    /// fold keeps; the table never shows in a view).
    var tableHash: UInt32 {
        var x: UInt64
        switch self {
        case .uuid(let hi, let lo):
            x = hi ^ (lo &* 0x9E37_79B9_7F4A_7C15)
        case .text(let s):
            // FNV-1a over the bytes.
            x = 0xCBF2_9CE4_8422_2325
            for b in s.utf8 { x = (x ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        }
        // The finalizer of MurmurHash3: every input bit moves every output bit.
        x ^= x >> 33
        x &*= 0xFF51_AFD7_ED55_8CCD
        x ^= x >> 33
        x &*= 0xC4CE_B9FE_1A85_EC53
        x ^= x >> 33
        return UInt32(truncatingIfNeeded: x)
    }
}

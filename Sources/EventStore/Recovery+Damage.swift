@preconcurrency import Crypto
import IncidentModel

// Mapping the damage of sealed segments on open: which offsets are slots, which events they
// held, and what the repair will check them against. The rules are at the top of Damage.swift.

extension Recovery {
    /// A damaged sealed segment as the scan laid it out: one line start per offset (a slot's is
    /// where its damaged bytes begin), and which line of the file each offset is.
    struct MappedSegment {
        var lineStarts: [UInt32]
        /// For each offset of the segment, the file's line index, or nil for a slot.
        var lineOfOffset: [Int?]
        var segment: RepairState.Segment
        /// Bytes of the failing lines, with the slots they may stand for (offsets in the log).
        var badLines: [(bytes: [UInt8], slots: Range<UInt64>)]
    }

    /// Lays out a sealed segment whose lines `bad` (file line indices, sorted; an incomplete last
    /// line counts as the line after the complete ones) failed their checks; `count` is the
    /// number of lines it must hold. Nil when the lines that verify are more than it may hold.
    static func mapDamage(
        name: String, firstOffset: UInt64, count: Int, bytes: UnsafeBufferPointer<UInt8>, lineStarts: [UInt32], completeEnd: Int,
        bad: [Int]
    ) -> MappedSegment? {
        var starts = lineStarts
        if completeEnd < bytes.count { starts.append(UInt32(completeEnd)) }
        let lines = starts.count
        func end(_ line: Int) -> Int { line + 1 < lines ? Int(starts[line + 1]) : bytes.count }
        func content(_ line: Int) -> [UInt8] {
            // Without the newline (an incomplete last line has none).
            let e = end(line)
            let stop = e > Int(starts[line]) && bytes[e - 1] == UInt8(ascii: "\n") ? e - 1 : e
            return Array(bytes[Int(starts[line])..<stop])
        }
        guard let firstBad = bad.first, let lastBad = bad.last else { return nil }
        if lines == count {
            var slots: [RepairState.Slot] = []
            var lineOfOffset: [Int?] = Array(0..<count)
            var badLines: [(bytes: [UInt8], slots: Range<UInt64>)] = []
            for b in bad {
                let original = content(b)
                slots.append(RepairState.Slot(index: b, key: nil, original: original))
                lineOfOffset[b] = nil
                badLines.append((original, (firstOffset + UInt64(b))..<(firstOffset + UInt64(b) + 1)))
            }
            let ranges = bad.map { UInt64(starts[$0])..<UInt64(end($0)) }
            let segment = RepairState.Segment(
                name: name, firstOffset: firstOffset, count: count, byteRanges: merge(ranges), clean: true, slots: slots)
            return MappedSegment(lineStarts: starts, lineOfOffset: lineOfOffset, segment: segment, badLines: badLines)
        }
        let before = firstBad
        let after = lines - lastBad - 1
        let slotCount = count - before - after
        guard slotCount >= 0 else { return nil }
        let rangeStart = starts[firstBad]
        var mapped: [UInt32] = Array(starts[0..<before])
        mapped += [UInt32](repeating: rangeStart, count: slotCount)
        mapped += starts[(lastBad + 1)...]
        var lineOfOffset: [Int?] = Array(0..<before)
        lineOfOffset += [Int?](repeating: nil, count: slotCount)
        lineOfOffset += Array((lastBad + 1)..<lines)
        let slotOffsets = (firstOffset + UInt64(before))..<(firstOffset + UInt64(before + slotCount))
        let slots = (0..<slotCount).map { RepairState.Slot(index: before + $0, key: nil, original: []) }
        let segment = RepairState.Segment(
            name: name, firstOffset: firstOffset, count: count, byteRanges: [UInt64(rangeStart)..<UInt64(end(lastBad))], clean: false,
            slots: slots)
        return MappedSegment(
            lineStarts: mapped, lineOfOffset: lineOfOffset, segment: segment, badLines: bad.map { (content($0), slotOffsets) })
    }

    static func merge(_ ranges: [Range<UInt64>]) -> [Range<UInt64>] {
        var out: [Range<UInt64>] = []
        for r in ranges {
            if let last = out.last, last.upperBound == r.lowerBound {
                out[out.count - 1] = last.lowerBound..<r.upperBound
            } else {
                out.append(r)
            }
        }
        return out
    }

    /// What a damaged line may still say about itself.
    struct LenientHead: Equatable {
        var origin: String
        var seq: UInt64
    }

    /// The identities a damaged line's first members give: `origin` and `seq`, and `id`. When
    /// they agree, one; when they differ (one of them is damaged), both, for the caller to try.
    static func lenientHeads(_ line: [UInt8]) -> [LenientHead] {
        var out: [LenientHead] = []
        var scanner = LenientScanner(bytes: line)
        guard scanner.literal("{\"origin\":\"") else { return [] }
        let origin = scanner.name(until: UInt8(ascii: "\""))
        let seq = scanner.literal("\",\"seq\":") ? scanner.number() : nil
        if let origin, let seq, seq > 0 { out.append(LenientHead(origin: origin, seq: seq)) }
        if scanner.literal(",\"id\":\""), let idOrigin = scanner.name(until: UInt8(ascii: ":")), scanner.literal(":"),
            let idSeq = scanner.number(), idSeq > 0, scanner.literal("\"")
        {
            let h = LenientHead(origin: idOrigin, seq: idSeq)
            if !out.contains(h) { out.append(h) }
        }
        return out
    }

    /// The hash a damaged line of this node's own origin had, for the writer's chain: the one
    /// its signature verifies (of the `hash` it states and the hash of its bytes; `verified`),
    /// else the stated one, else the hash of its bytes; nil when neither can be read.
    static func damagedLineHash(_ line: [UInt8], publicKey: Curve25519.Signing.PublicKey) -> (hash: EventHash, verified: Bool)? {
        let marker = Array(",\"hash\":\"".utf8)
        guard let at = lastIndex(of: marker, in: line) else { return nil }
        let hexStart = at + marker.count
        let stated = hexStart + 64 <= line.count ? EventHash(hex: line[hexStart..<(hexStart + 64)]) : nil
        let computed = line.withUnsafeBufferPointer { Event.computeHash(prefix: UnsafeBufferPointer(rebasing: $0[..<at])) }
        let sigMarker = Array(",\"sig\":\"".utf8)
        if let s = lastIndex(of: sigMarker, in: line), s + sigMarker.count + 88 <= line.count,
            let signature = Base64.decode(Array(line[(s + sigMarker.count)..<(s + sigMarker.count + 88)])), signature.count == 64
        {
            for candidate in [stated, computed].compactMap({ $0 }) where publicKey.isValidSignature(signature, for: candidate.rawBytes) {
                return (candidate, true)
            }
        }
        return (stated ?? computed, false)
    }

    static func lastIndex(of pattern: [UInt8], in bytes: [UInt8]) -> Int? {
        guard pattern.count <= bytes.count else { return nil }
        var i = bytes.count - pattern.count
        while i >= 0 {
            if bytes[i..<(i + pattern.count)].elementsEqual(pattern) { return i }
            i -= 1
        }
        return nil
    }

    /// A forgiving reader of the start of a damaged line: no error, just nil.
    struct LenientScanner {
        let bytes: [UInt8]
        var at = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func literal(_ text: String) -> Bool {
            let t = Array(text.utf8)
            guard at + t.count <= bytes.count, bytes[at..<(at + t.count)].elementsEqual(t) else { return false }
            at += t.count
            return true
        }

        /// A node id (`a-z 0-9 _ -`, 1–63 bytes) ending before `end`.
        mutating func name(until end: UInt8) -> String? {
            var i = at
            while i < bytes.count, bytes[i] != end {
                let b = bytes[i]
                guard (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2D else { return nil }
                i += 1
            }
            guard i < bytes.count, i > at, i - at <= 63 else { return nil }
            defer { at = i }
            return String(decoding: bytes[at..<i], as: UTF8.self)
        }

        mutating func number() -> UInt64? {
            var value: UInt64 = 0
            var i = at
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39, i - at < 19 {
                value = value * 10 + UInt64(bytes[i] - 0x30)
                i += 1
            }
            guard i > at else { return nil }
            at = i
            return value
        }
    }

    /// Missing events as the chain pass and the damaged lines name them, and the slots they go in.
    struct DamageMap {
        /// A run of consecutive missing seqs of one origin, and where its slots may be: after
        /// offset `release` (its held predecessor; -1: none) and before `deadline`.
        struct Run {
            var origin: String
            var seqs: ClosedRange<UInt64>
            var release: Int64
            var deadline: UInt64
            /// Whether the chain proves it (a later event of the origin); else a damaged line named it.
            var proven: Bool
            var predecessorHash: EventHash?
            var successorPrev: EventHash?
        }

        var segments: [RepairState.Segment] = []
        /// Every slot's offset, in log order.
        var slots: [UInt64] = []
        var runs: [Run] = []
        var badLines: [(bytes: [UInt8], slots: Range<UInt64>)] = []
        /// Missing seqs the chains proved so far.
        var provenMissing = 0

        /// Slots seen so far that no proven missing event accounts for yet.
        var unexplainedSlots: Int { slots.count - provenMissing }

        mutating func add(_ mapped: MappedSegment) {
            for slot in mapped.segment.slots { slots.append(mapped.segment.firstOffset + UInt64(slot.index)) }
            segments.append(mapped.segment)
            badLines += mapped.badLines
        }

        mutating func addGap(origin: String, seqs: ClosedRange<UInt64>, release: Int64, deadline: UInt64, predecessorHash: EventHash?, successorPrev: EventHash?) {
            runs.append(
                Run(
                    origin: origin, seqs: seqs, release: release, deadline: deadline, proven: true, predecessorHash: predecessorHash,
                    successorPrev: successorPrev))
            provenMissing += seqs.count
        }

        /// Events no later event reveals (an origin's newest), named by damaged lines that read
        /// as the next seq of a held chain: for each origin, its head (seq, hash, offset).
        mutating func addHeads(_ heads: [String: (seq: UInt64, hash: EventHash, offset: Int64)]) {
            var next: [String: UInt64] = [:]
            for bad in badLines {
                let candidates = Recovery.lenientHeads(bad.bytes).filter { c in
                    let head = heads[c.origin]
                    let expected = next[c.origin] ?? (head?.seq ?? 0) + 1
                    // A new origin only when both readings agree on it.
                    guard head != nil || Recovery.lenientHeads(bad.bytes).count == 1 else { return false }
                    return c.seq == expected && Int64(bad.slots.upperBound) - 1 > (head?.offset ?? -1)
                }
                guard candidates.count == 1, let c = candidates.first else { continue }
                let head = heads[c.origin]
                let first = next[c.origin] == nil
                runs.append(
                    Run(
                        origin: c.origin, seqs: c.seq...c.seq, release: max(head?.offset ?? -1, Int64(bad.slots.lowerBound) - 1),
                        deadline: bad.slots.upperBound, proven: false, predecessorHash: first ? head?.hash : nil, successorPrev: nil))
                next[c.origin] = c.seq + 1
            }
        }

        /// Gives each missing event a slot: earliest deadline first over the slots in log order,
        /// ties by origin and seq (so each origin's seqs go in order). Nil when a proven missing
        /// event finds no slot in its window; events only a damaged line named are dropped first.
        func assign() -> [UInt64: EventKey]? {
            if let all = assign(runs) { return all }
            return assign(runs.filter(\.proven))
        }

        func assign(_ runs: [Run]) -> [UInt64: EventKey]? {
            let order = runs.indices.sorted { runs[$0].release < runs[$1].release }
            var heap = RunHeap(runs: runs)
            var next = runs.map(\.seqs.lowerBound)
            var released = 0
            var out: [UInt64: EventKey] = [:]
            for x in slots {
                while released < order.count, runs[order[released]].release < Int64(x) {
                    heap.push(order[released], seq: next[order[released]])
                    released += 1
                }
                while let top = heap.peek, runs[top].deadline <= x {
                    guard !runs[top].proven else { return nil }
                    heap.pop()
                }
                guard let top = heap.pop() else { continue }
                out[x] = EventKey(origin: runs[top].origin, seq: next[top])
                next[top] += 1
                if next[top] <= runs[top].seqs.upperBound { heap.push(top, seq: next[top]) }
            }
            for i in runs.indices where runs[i].proven && next[i] <= runs[i].seqs.upperBound { return nil }
            return out
        }
    }

    /// A binary min-heap of runs by (deadline, origin, next seq).
    struct RunHeap {
        let runs: [DamageMap.Run]
        var items: [(run: Int, seq: UInt64)] = []

        init(runs: [DamageMap.Run]) { self.runs = runs }

        var isEmpty: Bool { items.isEmpty }
        var peek: Int? { items.first?.run }

        func less(_ a: (run: Int, seq: UInt64), _ b: (run: Int, seq: UInt64)) -> Bool {
            let x = runs[a.run]
            let y = runs[b.run]
            if x.deadline != y.deadline { return x.deadline < y.deadline }
            if x.origin != y.origin { return x.origin.utf8.lexicographicallyPrecedes(y.origin.utf8) }
            return a.seq < b.seq
        }

        mutating func push(_ run: Int, seq: UInt64) {
            items.append((run, seq))
            var i = items.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard less(items[i], items[parent]) else { break }
                items.swapAt(i, parent)
                i = parent
            }
        }

        @discardableResult
        mutating func pop() -> Int? {
            guard let top = items.first else { return nil }
            items[0] = items[items.count - 1]
            items.removeLast()
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < items.count, less(items[l], items[m]) { m = l }
                if r < items.count, less(items[r], items[m]) { m = r }
                guard m != i else { break }
                items.swapAt(i, m)
                i = m
            }
            return top.run
        }
    }
}

extension Recovery {
    /// Gives the missing events their slots, and sets up what the repair and the readers need:
    /// the writer's record, the placeholders in each origin's offsets, the index's missing seqs.
    /// Also the writer's chain head for this node's own origin when its newest event is missing.
    static func resolve(
        _ found: DamageMap, chains: inout OriginChains, index: inout IndexState, nodeID: String, identity: NodeIdentity,
        segmentsDirectory: String
    ) throws(StoreError) -> (RepairState, (seq: UInt64, hash: EventHash)?) {
        var damage = found
        let heads = chains.heads
        damage.addHeads(heads)
        guard var assigned = damage.assign() else {
            let names = damage.segments.map { "\(segmentsDirectory)/\($0.name)" }.joined(separator: ", ")
            throw StoreError(
                .corrupt, "\(names): damaged, and the events missing from the chains do not fit in the damaged places (not a damaged line's worth)")
        }
        // Events only a damaged line named must follow on from their origin's chain, without a hole.
        var nextHead = heads.mapValues { $0.seq + 1 }
        for slot in assigned.keys.sorted() {
            let key = assigned[slot]!
            guard key.seq > (heads[key.origin]?.seq ?? 0) else { continue }
            if key.seq == nextHead[key.origin, default: 1] {
                nextHead[key.origin] = key.seq + 1
            } else {
                assigned[slot] = nil
            }
        }

        var repair = RepairState()
        repair.segments = damage.segments
        for (si, segment) in damage.segments.enumerated() {
            for (k, slot) in segment.slots.enumerated() {
                let offset = segment.firstOffset + UInt64(slot.index)
                guard let key = assigned[offset] else { continue }
                repair.segments[si].slots[k].key = key
                repair.missing[key] = RepairState.Missing(segment: si, slot: k, offset: offset)
                index.missing[key.origin, default: []].insert(key.seq)
            }
        }
        // Slots go in seq order per origin, so each origin's offsets are placed in that order.
        for key in repair.missing.keys.sorted(by: { ($0.origin, $0.seq) < ($1.origin, $1.seq) }) {
            chains.place(key, at: repair.missing[key]!.offset)
        }
        for run in damage.runs {
            let first = EventKey(origin: run.origin, seq: run.seqs.lowerBound)
            let last = EventKey(origin: run.origin, seq: run.seqs.upperBound)
            if repair.missing[first] != nil { repair.missing[first]!.predecessorHash = run.predecessorHash }
            if repair.missing[last] != nil { repair.missing[last]!.expectedHash = run.successorPrev }
        }
        for (origin, seqs) in index.missing { index.missingFloor[origin] = seqs.min() }

        // The writer must not write a seq of its own twice: its chain goes on after its newest
        // event even when that one is missing, with the hash the damaged line gives.
        var ownHead: (seq: UInt64, hash: EventHash)? = nil
        if let newest = repair.missing.keys.filter({ $0.origin == nodeID && $0.seq > (heads[nodeID]?.seq ?? 0) }).max(by: { $0.seq < $1.seq }) {
            let m = repair.missing[newest]!
            let lines = damage.badLines.filter { $0.slots.contains(m.offset) && lenientHeads($0.bytes).contains(LenientHead(origin: newest.origin, seq: newest.seq)) }
            let found = lines.first.flatMap { damagedLineHash($0.bytes, publicKey: identity.publicKey) }
            if let found, found.verified { repair.missing[newest]!.expectedHash = found.hash }
            ownHead = (newest.seq, found?.hash ?? EventHash(w0: 0, w1: 0, w2: 0, w3: 0))
            repair.ownHeadGuess = ownHead
        }
        index.damage = repair.report
        return (repair, ownHead)
    }
}

public import IncidentModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The repair of damaged sealed segments: the writer takes a received event into its slot and
// rewrites the segment (the rules are at the top of Damage.swift).

extension EventStore {
    /// What the damage of sealed segments is and how far its repair got (empty without damage).
    public var damage: DamageReport {
        index.withLock { state in
            var report = state.damage
            let missingOwn = state.missing[nodeID] ?? []
            report.lost = state.lost.filter { missingOwn.contains($0) }.sorted().map { "\(nodeID):\($0)" }
            return report
        }
    }

    /// How many rewrites of damaged segments took repaired events: a sender that has passed
    /// their offsets goes back when it changes.
    public var repairs: Int { index.withLock { $0.repairs } }

    /// Seqs of this node's own events that damaged segments hide and no repair brought back yet.
    public var missingOwnSeqs: [UInt64] { index.withLock { ($0.missing[nodeID] ?? []).sorted() } }

    /// Reports own events as lost: no peer that could be asked holds them. Logged once each, at
    /// warning; `damage.lost` lists them while they are missing (a later repair still takes them).
    public func reportLost(_ seqs: [UInt64]) {
        let new = index.withLock { state -> [UInt64] in
            let missing = state.missing[nodeID] ?? []
            let new = seqs.filter { missing.contains($0) && !state.lost.contains($0) }
            state.lost.formUnion(new)
            return new.sorted()
        }
        guard !new.isEmpty else { return }
        logger.warning(
            "own events lost: a damaged segment hid them and no configured peer holds them",
            metadata: ["event.ids": "\(new.map { "\(nodeID):\($0)" }.joined(separator: ","))", "store.dir": "\(directory)"])
    }

    /// The events each repair writes back into a damaged segment, as it writes them: they sit at
    /// offsets a reader of new events has passed (the projection fold takes them from here).
    /// Ends when the store closes.
    public func repairedEvents() -> AsyncStream<[Event]> {
        let (stream, continuation) = AsyncStream<[Event]>.makeStream()
        register(continuation, in: \.repairSubscribers)
        return stream
    }

    /// Hands repaired events to `repairedEvents` subscribers.
    func publishRepaired(_ events: [Event]) {
        guard !events.isEmpty else { return }
        let subscribers = index.withLock { Array($0.repairSubscribers.values) }
        for s in subscribers { s.yield(events) }
    }

    /// A replicated event that a damaged segment misses (writer thread): its outcome, or nil when
    /// it is not one of those. It is checked against its neighbours in the chain and put in its
    /// slot; `writeRepairs` writes it to disk.
    func repairOutcome(_ e: Event, chains: inout [String: (seq: UInt64, hash: EventHash)]) -> IngestOutcome? {
        let repair = writerContext.repair
        let key = EventKey(origin: e.origin, seq: e.seq)
        guard let m = repair.missing[key] else { return nil }
        let slot = repair.segments[m.segment].slots[m.slot]
        if let fill = slot.fill {
            return fill.hash == e.hash ? .duplicate : .refused(.fork, "\(e.id) is held for repair with hash \(fill.hash.hex), received \(e.hash.hex)")
        }
        func filled(_ seq: UInt64) -> Event? {
            guard seq >= 1, let n = repair.missing[EventKey(origin: e.origin, seq: seq)] else { return nil }
            return repair.segments[n.segment].slots[n.slot].fill
        }
        let predecessor = e.seq == 1 ? nil : (m.predecessorHash ?? filled(e.seq - 1)?.hash)
        if e.seq == 1 ? e.prev != nil : (predecessor != nil && e.prev != predecessor) {
            return .refused(.badChain, "\(e.id) prev does not match the hash held for seq \(e.seq - 1)")
        }
        let expected = m.expectedHash ?? filled(e.seq + 1)?.prev
        if let expected, expected != e.hash {
            return .refused(.fork, "\(e.id) has hash \(e.hash.hex), but the event after it names \(expected.hex)")
        }
        // The writer's own chain went on after a missing newest event with a hash the damaged
        // line gave; once it wrote after it, only that event fits.
        if let guess = repair.ownHeadGuess, e.origin == nodeID, e.seq == guess.seq, (chains[nodeID]?.seq ?? 0) > e.seq, e.hash != guess.hash {
            return .refused(.fork, "\(e.id) has hash \(e.hash.hex), but this node's later events follow \(guess.hash.hex)")
        }
        writerContext.repair.segments[m.segment].slots[m.slot].fill = e
        writerContext.clock.observe(e.hlc)
        // An origin's missing newest events extend the writer's chain as they arrive, in seq order.
        if let head = chains[e.origin], head.seq == e.seq { chains[e.origin] = (e.seq, e.hash) }
        while true {
            let seq = (chains[e.origin]?.seq ?? 0) + 1
            guard let next = seq == e.seq ? e : filled(seq) else { break }
            chains[e.origin] = (seq, next.hash)
        }
        return .stored(offset: m.offset)
    }

    /// What a rewrite changed, for the index.
    struct SegmentSwap {
        var firstOffset: UInt64
        var lineStarts: [UInt32]
        var size: UInt64
        var readFD: Int32
        var slots: [Int]
        var repaired: [Event]
    }

    /// Rewrites every damaged segment that has repaired events to take (writer thread). Stops at
    /// the first failure, which the caller makes sticky like a failed write.
    func writeRepairs() -> ([SegmentSwap], StoreError?) {
        var swaps: [SegmentSwap] = []
        for i in writerContext.repair.segments.indices where writerContext.repair.segments[i].pendingWrite {
            switch rewrite(segment: i) {
            case .success(let swap): swaps.append(swap)
            case .failure(let error): return (swaps, error)
            }
        }
        return (swaps, nil)
    }

    /// Writes segment `i` again with its repaired events in their slots: to `<name>.tmp`, fsync,
    /// rename over the segment, fsync the directory (after keeping the damaged bytes in
    /// `<name>.damaged`, once per run).
    func rewrite(segment i: Int) -> Result<SegmentSwap, StoreError> {
        var segment = writerContext.repair.segments[i]
        let path = segmentsDirectory + "/" + segment.name
        let layout: (fd: Int32, starts: [UInt32], size: UInt64)? = index.withLock { state in
            state.segments.first { $0.firstOffset == segment.firstOffset }.map { ($0.readFD, $0.lineStarts, $0.size) }
        }
        guard let layout, let current = POSIX.preadAll(layout.fd, count: Int(layout.size), offset: 0) else {
            return .failure(StoreError(.storeFailed, "cannot read \(path) to repair it: \(POSIX.errnoText())"))
        }
        var slotAt: [Int: Int] = [:]
        for (j, slot) in segment.slots.enumerated() { slotAt[slot.index] = j }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(current.count + 4096)
        var starts: [UInt32] = []
        starts.reserveCapacity(segment.count)
        var remaining: [Int] = []
        var repaired: [Event] = []
        for k in 0..<segment.count {
            starts.append(UInt32(bytes.count))
            if let j = slotAt[k] {
                if let fill = segment.slots[j].fill {
                    bytes += fill.line
                    if !segment.slots[j].written { repaired.append(fill) }
                } else {
                    bytes += segment.slots[j].original
                    remaining.append(k)
                }
                bytes.append(UInt8(ascii: "\n"))
            } else {
                let end = k + 1 < layout.starts.count ? Int(layout.starts[k + 1]) : current.count
                bytes += current[Int(layout.starts[k])..<end]
            }
        }
        if !segment.copied {
            if let error = writeFile(preservedCopyPath(path), current) { return .failure(error) }
            segment.copied = true
        }
        let temporary = path + ".tmp"
        if let error = writeFile(temporary, bytes) { return .failure(error) }
        guard rename(temporary, path) == 0 else {
            return .failure(StoreError(.storeFailed, "cannot rename \(temporary) over \(path): \(POSIX.errnoText())"))
        }
        if options.fsync == .always, let code = POSIX.fsyncDirectory(segmentsDirectory) {
            return .failure(StoreError(.storeFailed, "cannot fsync \(segmentsDirectory): \(POSIX.errnoText(code))"))
        }
        let rfd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard rfd >= 0 else { return .failure(StoreError(.storeFailed, "cannot open \(path): \(POSIX.errnoText())")) }
        for j in segment.slots.indices where segment.slots[j].fill != nil && !segment.slots[j].written {
            segment.slots[j].written = true
            segment.repaired += 1
        }
        writerContext.repair.segments[i] = segment
        for e in repaired { writerContext.repair.missing[EventKey(origin: e.origin, seq: e.seq)] = nil }
        let whole = remaining.isEmpty
        logger.warning(
            whole ? "damaged segment repaired: it verifies again" : "damaged segment rewritten with the events repaired so far",
            metadata: [
                "store.segment": "\(path)", "event.ids": "\(repaired.map(\.id).joined(separator: ","))",
                "store.still_missing": "\(segment.slots.filter { !$0.written }.count)",
            ])
        return .success(
            SegmentSwap(firstOffset: segment.firstOffset, lineStarts: starts, size: UInt64(bytes.count), readFD: rfd, slots: remaining, repaired: repaired))
    }

    /// `<path>.damaged`, or `.damaged.1`, … when that exists: the damaged file as found.
    func preservedCopyPath(_ path: String) -> String {
        var candidate = path + ".damaged"
        var n = 1
        while access(candidate, F_OK) == 0 {
            candidate = path + ".damaged.\(n)"
            n += 1
        }
        return candidate
    }

    /// Writes a whole file and fsyncs it (per the fsync policy).
    func writeFile(_ path: String, _ bytes: [UInt8]) -> StoreError? {
        let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return StoreError(.storeFailed, "cannot create \(path): \(POSIX.errnoText())") }
        defer { Glibc.close(fd) }
        if let code = bytes.withUnsafeBytes({ POSIX.writeAll(fd, $0) }) {
            return StoreError(.storeFailed, "cannot write \(path): \(POSIX.errnoText(code))")
        }
        if options.fsync == .always, fsync(fd) != 0 {
            return StoreError(.storeFailed, "cannot fsync \(path): \(POSIX.errnoText())")
        }
        return nil
    }

    /// Applies rewrites to the index (under its lock, from the writer's publish).
    static func apply(_ swaps: [SegmentSwap], to state: inout IndexState) {
        for swap in swaps {
            guard let i = state.segments.firstIndex(where: { $0.firstOffset == swap.firstOffset }) else { continue }
            state.repairs += 1
            state.retiredFDs.append(state.segments[i].readFD)
            state.segments[i].readFD = swap.readFD
            state.segments[i].lineStarts = swap.lineStarts
            state.segments[i].size = swap.size
            state.segments[i].slots = swap.slots
            for e in swap.repaired {
                state.missing[e.origin]?.remove(e.seq)
                if state.missing[e.origin]?.isEmpty == true { state.missing[e.origin] = nil }
                state.missingFloor[e.origin] = state.missing[e.origin]?.min()
            }
        }
    }
}

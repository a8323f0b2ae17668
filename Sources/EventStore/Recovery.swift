@preconcurrency import Crypto
import IncidentModel
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening the store: scan every segment, check every line, cut a torn tail, rebuild the indexes.
/// The rules are at the top of SegmentFormat.swift. The scan is also what checks a copy of a data
/// directory (`EventStore.verifyCopy`), in `Mode.verify`.
///
/// How the work is spread (the checks are those of SegmentFormat.swift, unchanged):
/// - Each segment is read whole into one buffer reused from segment to segment, a few MiB per
///   task on every core, each task finding the newlines of its part with memchr.
/// - The per-line checks that do not depend on other lines (the line parses as an event line, with
///   `data` walked in full; its hash matches its bytes) run on every core, a few thousand lines
///   per task (`LineChecks`). They read the envelope in place (`EventEnvelope`, the grammar of
///   `Event.parse`) and keep a few numbers per line; no `Event`, string or array is built.
/// - One pass in log order then checks each origin's chain (seq and prev) and builds the indexes.
///   The first line that fails, in log order, is reported, exactly as a single pass would: the
///   chain pass stops at the first line a check task refused, and a chain failure before it wins.
/// - When opening, a sealed segment with lines that fail their own checks is mapped instead
///   (slots for the events it hides, Recovery+Damage.swift), and the chain pass lets each
///   origin's chain jump over as many seqs as there are damaged slots before it; the rules are in
///   Damage.swift. A copy being checked maps nothing: its first failing line refuses it.
enum Recovery {
    struct Result {
        var index: IndexState
        var maxHLC: HLCTimestamp
        var activeFD: Int32
        var activeSize: UInt64
        var reservedEnd: UInt64
        var chains: [String: (seq: UInt64, hash: EventHash)]
        var repair: RepairState
    }

    /// What the scan does with what it finds.
    enum Mode {
        /// Opening the store: a torn tail of the newest segment is cut (and kept as `.broken`),
        /// and a sealed segment's damage is mapped for the repair.
        case open
        /// Checking a copy (`EventStore.verifyCopy`): nothing is written or repaired, so any line
        /// that fails refuses the copy, a torn last line and a sealed segment's damage too; each
        /// signature is also checked against its origin's key.
        case verify(keys: [String: Curve25519.Signing.PublicKey])
    }

    /// What the scan found: each segment's lines, the chains, the damage of sealed segments
    /// (open mode) and the signatures (verify mode).
    struct Scan {
        struct Segment {
            var name: String
            var firstOffset: UInt64
            /// One start per offset; a damaged segment's slots included (`IndexState.Segment`).
            var lineStarts: [UInt32]
            var size: UInt64
            /// Positions of the slots of a damaged sealed segment (empty otherwise).
            var slots: [Int] = []
        }
        var segments: [Segment] = []
        var count: UInt64 = 0
        var chains = OriginChains()
        var maxHLC = HLCTimestamp.zero
        var damage = DamageMap()
        var signaturesChecked = 0
        /// Origins with signed events and no key to check them with.
        var unkeyedOrigins: Set<String> = []
    }

    static func open(
        directory: String, segmentsDirectory: String, nodeID: String, identity: NodeIdentity, options: StoreOptions, logger: Logger
    ) throws(StoreError) -> Result {
        for dir in [directory, segmentsDirectory] {
            if let code = POSIX.makeDirectory(dir) {
                throw StoreError(.io, "cannot create \(dir): \(POSIX.errnoText(code))")
            }
        }
        var segments = try segmentFiles(segmentsDirectory)
        if segments.isEmpty {
            let name = SegmentName.fileName(firstOffset: 0)
            let fd = Glibc.open(segmentsDirectory + "/" + name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw StoreError(.io, "cannot create segment \(name): \(POSIX.errnoText())") }
            close(fd)
            if options.fsync == .always { _ = POSIX.fsyncDirectory(segmentsDirectory) }
            _ = POSIX.fsyncDirectory(directory)
            segments = [(name, 0)]
        }
        var scan = try Self.scan(segmentsDirectory: segmentsDirectory, segments: segments, mode: .open, options: options, logger: logger)

        var state = IndexState()
        // The segments' read descriptors belong to the store once it opens; a refusal closes them.
        var opened = false
        defer { if !opened { for segment in state.segments { close(segment.readFD) } } }
        for segment in scan.segments {
            let path = segmentsDirectory + "/" + segment.name
            let rfd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard rfd >= 0 else { throw StoreError(.io, "cannot open \(path): \(POSIX.errnoText())") }
            state.segments.append(
                IndexState.Segment(
                    firstOffset: segment.firstOffset, name: segment.name, readFD: rfd, lineStarts: segment.lineStarts, size: segment.size,
                    slots: segment.slots))
        }
        state.count = scan.count

        var repair = RepairState()
        var ownHead: (seq: UInt64, hash: EventHash)? = nil
        if !scan.damage.segments.isEmpty {
            (repair, ownHead) = try resolve(
                scan.damage, chains: &scan.chains, index: &state, nodeID: nodeID, identity: identity, segmentsDirectory: segmentsDirectory)
            for s in repair.segments {
                logger.warning(
                    "sealed segment damaged; serving the log without its damaged events until they are repaired",
                    metadata: [
                        "store.segment": "\(segmentsDirectory)/\(s.name)",
                        "store.byte_ranges": "\(s.byteRanges.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ","))",
                        "store.events": "\(s.slots.count)", "event.ids": "\(s.slots.compactMap { $0.key?.id }.joined(separator: ","))",
                        "store.unidentified": "\(s.slots.filter { $0.key == nil }.count)",
                    ])
            }
        }

        let activePath = segmentsDirectory + "/" + state.segments[state.segments.count - 1].name
        // Written with pwrite at the end of its data, not at the end of the file: a reserved tail
        // of zeros may follow the data.
        let wfd = Glibc.open(activePath, O_WRONLY | O_CLOEXEC)
        guard wfd >= 0 else { throw StoreError(.io, "cannot open \(activePath) for writing: \(POSIX.errnoText())") }
        guard let fileSize = POSIX.fileSize(wfd) else {
            close(wfd)
            throw StoreError(.io, "cannot stat \(activePath): \(POSIX.errnoText())")
        }
        var (origins, heads) = scan.chains.finish()
        if let ownHead { heads[nodeID] = ownHead }
        state.origins = origins
        logger.info(
            "store opened",
            metadata: ["store.events": "\(state.count)", "store.segments": "\(state.segments.count)", "store.dir": "\(directory)"])
        opened = true
        let activeSize = state.segments[state.segments.count - 1].size
        return Result(
            index: state, maxHLC: scan.maxHLC, activeFD: wfd, activeSize: activeSize, reservedEnd: max(fileSize, activeSize), chains: heads,
            repair: repair)
    }

    /// The segment files of a directory (names that are not `<20 digits>.jsonl` are ignored), in
    /// offset order.
    static func segmentFiles(_ segmentsDirectory: String) throws(StoreError) -> [(name: String, firstOffset: UInt64)] {
        guard let names = POSIX.listDirectory(segmentsDirectory) else {
            throw StoreError(.io, "cannot list \(segmentsDirectory): \(POSIX.errnoText())")
        }
        var segments = names.compactMap { name in SegmentName.firstOffset(fileName: name).map { (name, $0) } }
        segments.sort { $0.1 < $1.1 }
        return segments
    }

    /// Reads every segment in order and checks every line (SegmentFormat.swift). In `.open` mode
    /// it maps the damage of sealed segments and cuts a torn tail of the newest segment; in
    /// `.verify` mode the first line that fails, wherever it is, refuses the whole.
    static func scan(
        segmentsDirectory: String, segments: [(name: String, firstOffset: UInt64)], mode: Mode, options: StoreOptions, logger: Logger
    ) throws(StoreError) -> Scan {
        var result = Scan()
        var buffer = SegmentBuffer()
        defer { buffer.deallocate() }
        var checks = LineChecks()
        defer { checks.deallocate() }
        let opening: Bool
        switch mode {
        case .open: opening = true
        case .verify(let keys):
            opening = false
            checks.keys = keys
        }

        for (i, (name, firstOffset)) in segments.enumerated() {
            let path = segmentsDirectory + "/" + name
            guard firstOffset == result.count else {
                throw StoreError(
                    .corrupt, "\(path): segment starts at offset \(firstOffset) but the log before it holds \(result.count) events")
            }
            // The bytes, the start of each complete line, and where they end: bytes after the
            // last newline are an incomplete line.
            guard let segment = buffer.read(path) else {
                throw StoreError(.io, "cannot read \(path): \(POSIX.errnoText())")
            }
            let isNewest = i == segments.count - 1
            // The newest segment's zero bytes at the end are its reserved tail, not data: its data
            // ends after its last non-zero byte. (No line holds a zero byte, and a newline is not
            // zero, so every complete line lies before that end.)
            let bytes = isNewest ? UnsafeBufferPointer(rebasing: segment.bytes[..<Self.endOfData(segment.bytes)]) : segment.bytes
            let completeEnd = segment.completeEnd
            var lineStarts = segment.lineStarts

            // Per-line checks on every core, then the chains in log order.
            let refusedLines = checks.run(bytes, lineStarts: lineStarts, completeEnd: completeEnd)
            result.signaturesChecked += checks.signaturesChecked
            result.unkeyedOrigins.formUnion(checks.unkeyedOrigins)
            if opening, !isNewest, !refusedLines.isEmpty || completeEnd < bytes.count {
                // A sealed segment with damage: mapped, served without it, repaired later.
                let nextOffset = segments[i + 1].1
                guard nextOffset >= firstOffset else {
                    throw StoreError(.corrupt, "\(segmentsDirectory)/\(segments[i + 1].0): segment starts before \(path)")
                }
                let bad = refusedLines.map(\.line) + (completeEnd < bytes.count ? [lineStarts.count] : [])
                guard
                    let mapped = mapDamage(
                        name: name, firstOffset: firstOffset, count: Int(nextOffset - firstOffset), bytes: bytes, lineStarts: lineStarts,
                        completeEnd: completeEnd, bad: bad)
                else {
                    let first = refusedLines.first.map { "corrupt record at byte offset \(lineStarts[$0.line]): \($0.reason)" } ?? "incomplete last line"
                    throw StoreError(
                        .corrupt, "\(path): \(first); it holds more valid lines than the next segment's name leaves room for")
                }
                result.damage.add(mapped)
                var afterSlot = false
                for (k, line) in mapped.lineOfOffset.enumerated() {
                    guard let line else {
                        afterSlot = true
                        continue
                    }
                    let start = Int(lineStarts[line])
                    if let problem = result.chains.extend(
                        checks.records[line], line: bytes, lineStart: start, offset: firstOffset + UInt64(k), afterSlot: afterSlot,
                        damage: &result.damage)
                    {
                        throw StoreError(.corrupt, "\(path): corrupt record at byte offset \(start): \(problem)")
                    }
                    afterSlot = false
                    if checks.records[line].hlc > result.maxHLC { result.maxHLC = checks.records[line].hlc }
                }
                result.segments.append(
                    Scan.Segment(
                        name: name, firstOffset: firstOffset, lineStarts: mapped.lineStarts, size: UInt64(bytes.count),
                        slots: mapped.segment.slots.map(\.index)))
                result.count += UInt64(mapped.lineStarts.count)
                continue
            }
            // In verify mode the damage map stays empty, so a chain may not jump a seq.
            let refused = refusedLines.first
            var badAt: (offset: Int, reason: String, complete: Bool)? = nil
            var good = 0
            let checkedCount = refused?.line ?? lineStarts.count
            while good < checkedCount {
                let start = Int(lineStarts[good])
                if let problem = result.chains.extend(
                    checks.records[good], line: bytes, lineStart: start, offset: firstOffset + UInt64(good), damage: &result.damage)
                {
                    badAt = (start, problem, true)
                    break
                }
                if checks.records[good].hlc > result.maxHLC { result.maxHLC = checks.records[good].hlc }
                good += 1
            }
            if badAt == nil, let refused {
                // A line that holds a zero byte was never written whole: the zeros are reserved
                // tail that a crash left between the bytes of an unsynced commit. It is torn.
                let start = Int(lineStarts[refused.line])
                let end = refused.line + 1 < lineStarts.count ? Int(lineStarts[refused.line + 1]) : completeEnd
                let holdsZero = memchr(bytes.baseAddress! + start, 0, end - start) != nil
                badAt = (start, holdsZero ? "\(refused.reason) (the line holds zero bytes)" : refused.reason, !holdsZero)
            }
            if badAt == nil, completeEnd < bytes.count { badAt = (completeEnd, "incomplete last line (no newline)", false) }
            lineStarts.removeLast(lineStarts.count - good)

            var size = UInt64(bytes.count)
            if let bad = badAt {
                guard isNewest, opening else {
                    throw StoreError(.corrupt, "\(path): corrupt record at byte offset \(bad.offset): \(bad.reason)")
                }
                // Only an incomplete last line is a torn write. A complete line that fails its checks
                // may be an acknowledged (and replicated) event that rotted: cutting it would make
                // this node reuse its seq and fork from every peer that holds the original.
                if bad.complete {
                    throw StoreError(
                        .corrupt,
                        "\(path): corrupt record at byte offset \(bad.offset): \(bad.reason) (a complete line, not a torn write; restore the segment from a backup or a peer)")
                }
                if let later = laterValidLine(bytes, after: bad.offset) {
                    throw StoreError(
                        .corrupt,
                        "\(path): corrupt record at byte offset \(bad.offset) (\(bad.reason)) followed by a valid record at byte offset \(later); not a torn tail")
                }
                try cutTornTail(path: path, bytes: bytes, from: bad.offset, reason: bad.reason, options: options, logger: logger)
                size = UInt64(bad.offset)
            }
            result.segments.append(Scan.Segment(name: name, firstOffset: firstOffset, lineStarts: lineStarts, size: size))
            result.count += UInt64(lineStarts.count)
        }
        return result
    }

    /// The end of the data of a newest segment: just after its last non-zero byte (0 when all
    /// are zero). What follows is its reserved tail.
    static func endOfData(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var end = bytes.count
        guard let base = bytes.baseAddress else { return 0 }
        // Eight bytes at a time while they are all zero, then byte by byte.
        while end >= 8, UnsafeRawPointer(base + end - 8).loadUnaligned(as: UInt64.self) == 0 { end -= 8 }
        while end > 0, base[end - 1] == 0 { end -= 1 }
        return end
    }

    static func firstNewline(_ buffer: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard from < buffer.count else { return nil }
        guard let p = memchr(buffer.baseAddress! + from, 0x0A, buffer.count - from) else { return nil }
        return buffer.baseAddress!.distance(to: p.assumingMemoryBound(to: UInt8.self))
    }

    /// The byte offset of a complete line after `offset` that parses and whose hash matches its
    /// bytes (chains are not checked: any such line means the damage is not just a torn write).
    static func laterValidLine(_ buffer: UnsafeBufferPointer<UInt8>, after offset: Int) -> Int? {
        guard var position = firstNewline(buffer, from: offset).map({ $0 + 1 }) else { return nil }
        while let newline = firstNewline(buffer, from: position) {
            let line = UnsafeBufferPointer(rebasing: buffer[position..<newline])
            if let envelope = try? EventEnvelope(scanning: line), envelope.hashMatches(in: line) {
                return position
            }
            position = newline + 1
        }
        return nil
    }

    static func cutTornTail(path: String, bytes: UnsafeBufferPointer<UInt8>, from offset: Int, reason: String, options: StoreOptions, logger: Logger) throws(StoreError) {
        var brokenPath = path + ".broken"
        var n = 1
        while access(brokenPath, F_OK) == 0 {
            brokenPath = path + ".broken.\(n)"
            n += 1
        }
        let bfd = Glibc.open(brokenPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard bfd >= 0 else { throw StoreError(.io, "cannot create \(brokenPath): \(POSIX.errnoText())") }
        let writeError = POSIX.writeAll(bfd, UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[offset...]))
        let syncFailed = fsync(bfd) != 0
        close(bfd)
        if writeError != nil || syncFailed { throw StoreError(.io, "cannot write \(brokenPath): \(POSIX.errnoText())") }
        let fd = Glibc.open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError(.io, "cannot open \(path): \(POSIX.errnoText())") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(offset)) == 0, fsync(fd) == 0 else {
            throw StoreError(.io, "cannot truncate \(path): \(POSIX.errnoText())")
        }
        _ = POSIX.fsyncDirectory(String(path[..<path.lastIndex(of: "/")!]))
        logger.warning(
            "torn tail cut from the newest segment",
            metadata: [
                "store.segment": "\(path)", "store.cut_from": "\(offset)", "store.cut_to": "\(bytes.count)",
                "store.cut_bytes": "\(bytes.count - offset)", "store.reason": "\(reason)",
                "store.broken_copy": "\(brokenPath)",
            ])
    }

}

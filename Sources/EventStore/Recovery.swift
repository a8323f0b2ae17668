import IncidentModel
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opening the store: scan every segment, check every line, cut a torn tail, rebuild the indexes.
/// The rules are at the top of SegmentFormat.swift.
enum Recovery {
    struct Result {
        var index: IndexState
        var maxHLC: HLCTimestamp
        var activeFD: Int32
        var activeSize: UInt64
        var chains: [String: (seq: UInt64, hash: EventHash)]
    }

    static func open(directory: String, segmentsDirectory: String, options: StoreOptions, logger: Logger) throws(StoreError) -> Result {
        for dir in [directory, segmentsDirectory] {
            if let code = POSIX.makeDirectory(dir) {
                throw StoreError(.io, "cannot create \(dir): \(POSIX.errnoText(code))")
            }
        }
        guard let names = POSIX.listDirectory(segmentsDirectory) else {
            throw StoreError(.io, "cannot list \(segmentsDirectory): \(POSIX.errnoText())")
        }
        var segments = names.compactMap { name in SegmentName.firstOffset(fileName: name).map { (name, $0) } }
        segments.sort { $0.1 < $1.1 }

        var state = IndexState()
        var chains: [String: (seq: UInt64, hash: EventHash)] = [:]
        var maxHLC = HLCTimestamp.zero
        var activeSize: UInt64 = 0

        if segments.isEmpty {
            let name = SegmentName.fileName(firstOffset: 0)
            let fd = Glibc.open(segmentsDirectory + "/" + name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw StoreError(.io, "cannot create segment \(name): \(POSIX.errnoText())") }
            close(fd)
            if options.fsync == .always { _ = POSIX.fsyncDirectory(segmentsDirectory) }
            _ = POSIX.fsyncDirectory(directory)
            segments = [(name, 0)]
        }

        for (i, (name, firstOffset)) in segments.enumerated() {
            let path = segmentsDirectory + "/" + name
            guard firstOffset == state.count else {
                throw StoreError(
                    .corrupt, "\(path): segment starts at offset \(firstOffset) but the log before it holds \(state.count) events")
            }
            guard let bytes = POSIX.readWholeFile(path) else {
                throw StoreError(.io, "cannot read \(path): \(POSIX.errnoText())")
            }
            let isNewest = i == segments.count - 1
            var lineStarts: [UInt32] = []
            var pendingOrigins: [String] = []
            var position = 0
            var badAt: (offset: Int, reason: String, complete: Bool)? = nil
            bytes.withUnsafeBufferPointer { buffer in
                while position < buffer.count {
                    guard let newline = firstNewline(buffer, from: position) else {
                        badAt = (position, "incomplete last line (no newline)", false)
                        return
                    }
                    let line = Array(buffer[position..<newline])
                    switch check(line: line, chains: &chains, maxHLC: &maxHLC) {
                    case .failure(let problem):
                        badAt = (position, problem.reason, true)
                        return
                    case .success(let origin):
                        // The origin → seq → offset index is built in the same pass.
                        pendingOrigins.append(origin)
                    }
                    lineStarts.append(UInt32(position))
                    position = newline + 1
                }
            }
            var size = UInt64(bytes.count)
            if let bad = badAt {
                guard isNewest else {
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
            let rfd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard rfd >= 0 else { throw StoreError(.io, "cannot open \(path): \(POSIX.errnoText())") }
            state.segments.append(
                IndexState.Segment(firstOffset: firstOffset, name: name, readFD: rfd, lineStarts: lineStarts, size: size))
            for (k, origin) in pendingOrigins.prefix(lineStarts.count).enumerated() {
                state.origins[origin, default: IndexState.Origin()].offsets.append(firstOffset + UInt64(k))
            }
            state.count += UInt64(lineStarts.count)
            if isNewest { activeSize = size }
        }

        let activePath = segmentsDirectory + "/" + state.segments[state.segments.count - 1].name
        let wfd = Glibc.open(activePath, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard wfd >= 0 else { throw StoreError(.io, "cannot open \(activePath) for writing: \(POSIX.errnoText())") }
        logger.info(
            "store opened",
            metadata: ["store.events": "\(state.count)", "store.segments": "\(state.segments.count)", "store.dir": "\(directory)"])
        return Result(index: state, maxHLC: maxHLC, activeFD: wfd, activeSize: activeSize, chains: chains)
    }

    /// Checks one line against the chains read so far and advances them; nil when it is valid.
    struct Problem: Error {
        var reason: String
    }

    /// Checks one line against the chains read so far and advances them; gives the line's origin.
    static func check(line: [UInt8], chains: inout [String: (seq: UInt64, hash: EventHash)], maxHLC: inout HLCTimestamp) -> Swift.Result<String, Problem> {
        let event: Event
        do {
            event = try Event.parse(line: line)
        } catch {
            return .failure(Problem(reason: "unparsable event: \(error)"))
        }
        guard event.hashIsValid else { return .failure(Problem(reason: "hash does not match the record's bytes (\(event.id))")) }
        let held = chains[event.origin]
        let expected = (held?.seq ?? 0) + 1
        guard event.seq == expected else { return .failure(Problem(reason: "\(event.id) out of order: expected seq \(expected)")) }
        guard event.prev == held?.hash else {
            return .failure(Problem(reason: "\(event.id) prev does not match the hash of seq \(expected - 1)"))
        }
        chains[event.origin] = (event.seq, event.hash)
        if event.hlc > maxHLC { maxHLC = event.hlc }
        return .success(event.origin)
    }

    static func firstNewline(_ buffer: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard from < buffer.count else { return nil }
        guard let p = memchr(buffer.baseAddress! + from, 0x0A, buffer.count - from) else { return nil }
        return buffer.baseAddress!.distance(to: p.assumingMemoryBound(to: UInt8.self))
    }

    /// The byte offset of a complete line after `offset` that parses and whose hash matches its
    /// bytes (chains are not checked: any such line means the damage is not just a torn write).
    static func laterValidLine(_ bytes: [UInt8], after offset: Int) -> Int? {
        bytes.withUnsafeBufferPointer { buffer in
            guard var position = firstNewline(buffer, from: offset).map({ $0 + 1 }) else { return nil }
            while let newline = firstNewline(buffer, from: position) {
                if let event = try? Event.parse(line: Array(buffer[position..<newline])), event.hashIsValid {
                    return position
                }
                position = newline + 1
            }
            return nil
        }
    }

    static func cutTornTail(path: String, bytes: [UInt8], from offset: Int, reason: String, options: StoreOptions, logger: Logger) throws(StoreError) {
        var brokenPath = path + ".broken"
        var n = 1
        while access(brokenPath, F_OK) == 0 {
            brokenPath = path + ".broken.\(n)"
            n += 1
        }
        let bfd = Glibc.open(brokenPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard bfd >= 0 else { throw StoreError(.io, "cannot create \(brokenPath): \(POSIX.errnoText())") }
        let tail = Array(bytes[offset...])
        let writeError = tail.withUnsafeBytes { POSIX.writeAll(bfd, $0) }
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

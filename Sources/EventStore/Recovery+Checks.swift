@preconcurrency import Crypto
import Dispatch
import IncidentModel
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The parts of recovery's scan (Recovery.swift): the segment buffer, the per-line checks spread
// over the cores, and the chains checked in log order.

extension Recovery {
    /// What the chain pass needs of a line that passed its own checks.
    struct CheckedLine {
        var seq: UInt64 = 0
        var prev: EventHash? = nil
        var hash = EventHash(w0: 0, w1: 0, w2: 0, w3: 0)
        var hlc = HLCTimestamp.zero
        /// The origin's contents, relative to the line's start.
        var origin: Range<Int32> = 0..<0
        /// The origin is written with escapes (its bytes are not its name).
        var escaped = false
        /// The origin's bytes are those of the line before it in the segment (the chain pass
        /// then needs no lookup; a log holds long runs of one origin).
        var sameOriginAsPrevious = false
        /// The line carries a `sig`.
        var signed = false
    }

    /// A line that failed its own checks, and why.
    struct RefusedLine {
        var line: Int
        var reason: String
    }

    /// One buffer for the segment being read, grown when a segment is larger, reused otherwise:
    /// a fresh 64 MiB array per segment costs page faults and zeroing for every segment.
    struct SegmentBuffer {
        var storage = UnsafeMutableRawBufferPointer(start: nil, count: 0)
        static let bytesPerTask = 4 << 20

        /// A whole segment file and its lines: the start of each complete line, and where the
        /// complete lines end (bytes after that are an incomplete last line). The file is read,
        /// and its newlines found, a few MiB per task on every core. Valid until the next read;
        /// nil on an I/O error (errno set).
        mutating func read(_ path: String) -> (bytes: UnsafeBufferPointer<UInt8>, lineStarts: [UInt32], completeEnd: Int)? {
            let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            guard let size = POSIX.fileSize(fd).map({ Int($0) }) else { return nil }
            guard size > 0 else { return (UnsafeBufferPointer(start: nil, count: 0), [], 0) }
            if size > storage.count {
                storage.deallocate()
                storage = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
            }
            let base = storage.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let tasks = (size + Self.bytesPerTask - 1) / Self.bytesPerTask
            let work = ReadWork(fd: fd, base: base, size: size, tasks: tasks)
            defer { work.deallocate() }
            DispatchQueue.concurrentPerform(iterations: tasks) { task in work.read(task: task) }
            var lineStarts: [UInt32] = []
            lineStarts.reserveCapacity(size / 256 + 1)
            var next = 0
            for t in 0..<tasks {
                if let code = work.errors[t] {
                    errno = code
                    return nil
                }
                for newline in work.newlines[t] {
                    lineStarts.append(UInt32(next))
                    next = Int(newline) + 1
                }
            }
            return (UnsafeBufferPointer(start: base, count: size), lineStarts, next)
        }

        func deallocate() { storage.deallocate() }

        /// What the read tasks share: each fills its own byte range and its own slots.
        final class ReadWork: @unchecked Sendable {
            let fd: Int32
            let base: UnsafeMutablePointer<UInt8>
            let size: Int
            let newlines: UnsafeMutableBufferPointer<[UInt32]>
            let errors: UnsafeMutableBufferPointer<Int32?>

            init(fd: Int32, base: UnsafeMutablePointer<UInt8>, size: Int, tasks: Int) {
                self.fd = fd
                self.base = base
                self.size = size
                newlines = .allocate(capacity: tasks)
                newlines.initialize(repeating: [])
                errors = .allocate(capacity: tasks)
                errors.initialize(repeating: nil)
            }

            func deallocate() {
                _ = newlines.deinitialize()
                newlines.deallocate()
                _ = errors.deinitialize()
                errors.deallocate()
            }

            func read(task: Int) {
                let start = task * SegmentBuffer.bytesPerTask
                let end = min(size, start + SegmentBuffer.bytesPerTask)
                var done = start
                while done < end {
                    let n = pread(fd, base + done, end - done, off_t(done))
                    if n < 0 {
                        if errno == EINTR { continue }
                        errors[task] = errno
                        return
                    }
                    if n == 0 {
                        // The file is shorter than it was a moment ago.
                        errors[task] = EIO
                        return
                    }
                    done += n
                }
                var found: [UInt32] = []
                found.reserveCapacity((end - start) / 256 + 1)
                var position = start
                while position < end, let p = memchr(base + position, 0x0A, end - position) {
                    let newline = base.distance(to: p.assumingMemoryBound(to: UInt8.self))
                    found.append(UInt32(newline))
                    position = newline + 1
                }
                newlines[task] = found
            }
        }
    }

    /// Parses and hashes the lines of a segment on every core (and, checking a copy, verifies each
    /// `sig`). Each task takes a run of lines and notes every line it refuses (an open maps a
    /// sealed segment's damage whole, see Recovery+Damage.swift; a check of a copy names the
    /// first); the records stay valid until the next `run`, and those of refused lines hold
    /// nothing.
    struct LineChecks {
        private(set) var records = UnsafeMutableBufferPointer<CheckedLine>(start: nil, count: 0)
        static let linesPerTask = 4096
        /// Verify mode: each `sig` is also checked against its origin's key (nil: not checked,
        /// as when the store opens).
        var keys: [String: Curve25519.Signing.PublicKey]? = nil
        /// Of the last `run`: signatures that verified, and origins with a `sig` but no key.
        private(set) var signaturesChecked = 0
        private(set) var unkeyedOrigins: Set<String> = []

        /// Checks every complete line; gives the refused ones, in log order.
        mutating func run(_ bytes: UnsafeBufferPointer<UInt8>, lineStarts: [UInt32], completeEnd: Int) -> [RefusedLine] {
            let n = lineStarts.count
            if n > records.count {
                records.deallocate()
                records = .allocate(capacity: n)
                records.initialize(repeating: CheckedLine())
            }
            signaturesChecked = 0
            unkeyedOrigins = []
            guard n > 0 else { return [] }
            let tasks = (n + Self.linesPerTask - 1) / Self.linesPerTask
            let work = Work(bytes: bytes, records: records, tasks: tasks, keys: keys)
            defer { work.deallocate() }
            lineStarts.withUnsafeBufferPointer { starts in
                work.starts = starts
                work.completeEnd = completeEnd
                DispatchQueue.concurrentPerform(iterations: tasks) { task in work.check(task: task) }
            }
            (signaturesChecked, unkeyedOrigins) = work.signatures.withLock { ($0.checked, $0.unkeyed) }
            return (0..<tasks).flatMap { work.refused[$0] }
        }

        func deallocate() { records.deallocate() }

        /// What the tasks share: each writes only its own records and its own refusal slot.
        /// (Lines of other tasks are only read: the buffer does not change while they run.)
        final class Work: @unchecked Sendable {
            let bytes: UnsafeBufferPointer<UInt8>
            let records: UnsafeMutableBufferPointer<CheckedLine>
            let refused: UnsafeMutableBufferPointer<[RefusedLine]>
            var starts = UnsafeBufferPointer<UInt32>(start: nil, count: 0)
            var completeEnd = 0
            let keys: [String: Curve25519.Signing.PublicKey]?
            /// Verify mode: what the tasks found of signatures (added once per task).
            let signatures = Mutex<(checked: Int, unkeyed: Set<String>)>((0, []))

            init(bytes: UnsafeBufferPointer<UInt8>, records: UnsafeMutableBufferPointer<CheckedLine>, tasks: Int, keys: [String: Curve25519.Signing.PublicKey]?) {
                self.bytes = bytes
                self.records = records
                self.keys = keys
                self.refused = .allocate(capacity: tasks)
                refused.initialize(repeating: [])
            }

            func deallocate() {
                _ = refused.deinitialize()
                refused.deallocate()
            }

            /// True when the line at `start` begins `{"origin":"<origin>"`. That line may not have
            /// been checked yet; if it is refused, the chain pass stops before the line asking.
            func sameOrigin(_ origin: UnsafeBufferPointer<UInt8>, asLineAt start: Int) -> Bool {
                let prefix = 11  // {"origin":"
                let first = start + prefix
                guard first + origin.count < bytes.count, bytes[first + origin.count] == UInt8(ascii: "\"") else {
                    return false
                }
                for j in 0..<origin.count where bytes[first + j] != origin[j] { return false }
                return true
            }

            func check(task: Int) {
                let first = task * LineChecks.linesPerTask
                let last = min(starts.count, first + LineChecks.linesPerTask)
                var checked = 0
                var unkeyed: Set<String> = []
                defer {
                    if keys != nil {
                        signatures.withLock { found in
                            found.checked += checked
                            found.unkeyed.formUnion(unkeyed)
                        }
                    }
                }
                for k in first..<last {
                    let start = Int(starts[k])
                    let end = (k + 1 < starts.count ? Int(starts[k + 1]) : completeEnd) - 1
                    let line = UnsafeBufferPointer(rebasing: bytes[start..<end])
                    let envelope: EventEnvelope
                    do {
                        envelope = try EventEnvelope(scanning: line, checkingData: true)
                    } catch {
                        refused[task].append(RefusedLine(line: k, reason: "unparsable event: \(error)"))
                        continue
                    }
                    guard envelope.hashMatches(in: line) else {
                        let id = "\(envelope.string(envelope.origin, in: line)):\(envelope.seq)"
                        refused[task].append(RefusedLine(line: k, reason: "hash does not match the record's bytes (\(id))"))
                        continue
                    }
                    if let keys, let sig = envelope.signature {
                        // The hash does not cover `sig`: only the origin's key tells a damaged one.
                        let origin = envelope.string(envelope.origin, in: line)
                        if let key = keys[origin] {
                            guard let raw = Base64.decode(line[sig]), key.isValidSignature(raw, for: envelope.hash.rawBytes) else {
                                refused[task].append(
                                    RefusedLine(line: k, reason: "signature does not verify with \(origin)'s key (\(origin):\(envelope.seq))"))
                                continue
                            }
                            checked += 1
                        } else {
                            unkeyed.insert(origin)
                        }
                    }
                    records[k] = CheckedLine(
                        seq: envelope.seq, prev: envelope.prev, hash: envelope.hash, hlc: envelope.hlc,
                        origin: Int32(envelope.origin.lowerBound)..<Int32(envelope.origin.upperBound),
                        escaped: envelope.hasEscapedStrings,
                        sameOriginAsPrevious: !envelope.hasEscapedStrings && k > 0
                            && sameOrigin(UnsafeBufferPointer(rebasing: line[envelope.origin]), asLineAt: Int(starts[k - 1])),
                        signed: envelope.signature != nil)
                }
            }
        }
    }

    /// Each origin's chain as read so far (its highest seq and that event's hash) and the local
    /// offset of each of its events: the chain rule of SegmentFormat.swift, in log order.
    struct OriginChains {
        struct Entry {
            var name: String
            var utf8: [UInt8]
            var seq: UInt64 = 0
            var hash = EventHash(w0: 0, w1: 0, w2: 0, w3: 0)
            var offsets: [UInt64] = []
            /// The highest seq that carries a `sig` (0: none).
            var lastSigned: UInt64 = 0
        }

        var entries: [Entry] = []
        var byName: [String: Int] = [:]
        /// The entry of the previous line: logs hold long runs of one origin.
        var last = 0

        /// Extends the line's origin chain with it, or says why it does not extend it. A seq
        /// beyond the next is a gap that damaged slots before it may explain (`damage`): the
        /// missing seqs are noted there, and their offsets are placeholders until they get slots.
        /// `afterSlot`: the line before this one was a slot, so `sameOriginAsPrevious` says
        /// nothing about the chain's last line.
        mutating func extend(
            _ r: CheckedLine, line bytes: UnsafeBufferPointer<UInt8>, lineStart: Int, offset: UInt64, afterSlot: Bool = false,
            damage: inout DamageMap
        ) -> String? {
            let originRange = (lineStart + Int(r.origin.lowerBound))..<(lineStart + Int(r.origin.upperBound))
            let i: Int
            if r.sameOriginAsPrevious, !afterSlot, last < entries.count {
                i = last
            } else if r.escaped {
                let name = EventEnvelope.decodedString(originRange, in: bytes)
                i = Array(name.utf8).withUnsafeBufferPointer { slot($0) }
            } else {
                i = slot(UnsafeBufferPointer(rebasing: bytes[originRange]))
            }
            let held = entries[i].seq
            let expected = held + 1
            if r.seq > expected, r.seq - expected <= UInt64(damage.unexplainedSlots) {
                damage.addGap(
                    origin: entries[i].name, seqs: expected...(r.seq - 1), release: entries[i].offsets.last.map { Int64($0) } ?? -1,
                    deadline: offset, predecessorHash: held == 0 ? nil : entries[i].hash, successorPrev: r.prev)
                entries[i].offsets += [UInt64](repeating: Self.placeholder, count: Int(r.seq - expected))
            } else {
                guard r.seq == expected else { return "\(entries[i].name):\(r.seq) out of order: expected seq \(expected)" }
                guard r.prev == (held == 0 ? nil : entries[i].hash) else {
                    return "\(entries[i].name):\(r.seq) prev does not match the hash of seq \(expected - 1)"
                }
            }
            entries[i].seq = r.seq
            entries[i].hash = r.hash
            entries[i].offsets.append(offset)
            if r.signed { entries[i].lastSigned = r.seq }
            return nil
        }

        /// The entry of the origin named by these bytes, created (holding nothing) when new.
        mutating func slot(_ name: UnsafeBufferPointer<UInt8>) -> Int {
            @inline(__always) func same(_ i: Int) -> Bool {
                entries[i].utf8.withUnsafeBufferPointer { held in
                    guard held.count == name.count else { return false }
                    for j in 0..<name.count where held[j] != name[j] { return false }
                    return true
                }
            }
            if last < entries.count, same(last) { return last }
            // A handful of origins: comparing bytes beats building a string to hash.
            if entries.count <= 16 {
                for i in entries.indices where same(i) {
                    last = i
                    return i
                }
            } else if let i = byName[String(decoding: name, as: UTF8.self)] {
                last = i
                return i
            }
            let text = String(decoding: name, as: UTF8.self)
            entries.append(Entry(name: text, utf8: Array(name)))
            byName[text] = entries.count - 1
            last = entries.count - 1
            return last
        }

        /// The offset of a missing seq until it is given a slot.
        static let placeholder = UInt64.max

        /// Each origin's newest held event: seq, hash and offset.
        var heads: [String: (seq: UInt64, hash: EventHash, offset: Int64)] {
            var out: [String: (seq: UInt64, hash: EventHash, offset: Int64)] = [:]
            for e in entries where e.seq > 0 { out[e.name] = (e.seq, e.hash, Int64(e.offsets.last!)) }
            return out
        }

        /// Puts a missing event at its slot: a gap's placeholder, or after the origin's newest.
        mutating func place(_ key: EventKey, at offset: UInt64) {
            let i: Int
            if let known = byName[key.origin] {
                i = known
            } else {
                entries.append(Entry(name: key.origin, utf8: Array(key.origin.utf8)))
                byName[key.origin] = entries.count - 1
                i = entries.count - 1
            }
            let index = Int(key.seq - 1)
            if index < entries[i].offsets.count {
                entries[i].offsets[index] = offset
            } else if index == entries[i].offsets.count {
                entries[i].offsets.append(offset)
            }
        }

        /// The origin index and the writer's chain heads; origins without a held event are left out.
        func finish() -> ([String: IndexState.Origin], [String: (seq: UInt64, hash: EventHash)]) {
            var origins: [String: IndexState.Origin] = [:]
            var heads: [String: (seq: UInt64, hash: EventHash)] = [:]
            for e in entries where !e.offsets.isEmpty {
                origins[e.name] = IndexState.Origin(offsets: e.offsets)
                if e.seq > 0 { heads[e.name] = (e.seq, e.hash) }
            }
            return (origins, heads)
        }
    }
}

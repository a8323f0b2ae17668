import IncidentModel

// Compact event lines: what a compressing peer link sends instead of stored lines.
//
// A stored line is
//
//   {"origin":O,"seq":N,"id":"O:N"[,"prev":"<64 hex>"],"hlc":…,"recorded_at":…,"type":…,
//    "sector":…,"data":{…},"hash":"<64 hex>"[,"sig":"<88 base64>"]}
//
// Three members can be derived by the receiver, exactly:
// - `id` is `origin:seq`;
// - `hash` is SHA-256 of the line up to the end of `data`, plus `}` (docs/STORAGE.md);
// - `prev` is the hash of the origin's event seq − 1, when that event is the one before it in
//   the same message (its hash is then derived too).
// A compact line leaves out `,"id":…` and `,"hash":…` always, and `,"prev":…` when the line
// before it in the message is the origin's seq − 1. The hex hashes are incompressible: leaving
// them out halves what a deflated message carries (Benchmarks/link_compression.py).
//
// The receiver restores each line to the very bytes the origin stored, then checks it as any
// event (hash, chain, signature): a sender that alters a compact line gets a restored line whose
// hash is not the one its origin signed. A line that still has its `id` is taken as stored, so
// a sender may leave any line whole. A compact line with seq > 1, no `prev` and no predecessor
// in the message cannot be restored: `invalid_event`.

/// Strips and restores the derivable members of event lines (format above).
public enum CompactEventLine {
    /// Why a compact line cannot be restored.
    public struct Failure: Error, Equatable, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The message's lines in compact form (a line whose layout is not as expected stays whole).
    public static func compact(_ lines: [[UInt8]]) -> [[UInt8]] {
        var previous: (origin: ArraySlice<UInt8>, seq: UInt64)? = nil
        return lines.map { line in
            guard let layout = Layout(stored: line) else {
                previous = nil
                return line
            }
            let dropPrev = layout.prev != nil && previous.map { $0.origin == layout.origin && $0.seq + 1 == layout.seq } == true
            previous = (layout.origin, layout.seq)
            var out: [UInt8] = []
            out.reserveCapacity(line.count - 80)
            out += line[..<layout.id.lowerBound]
            out += line[(dropPrev ? layout.prev!.upperBound : layout.id.upperBound)..<layout.hash.lowerBound]
            out += line[layout.hash.upperBound...]
            return out
        }
    }

    /// The message's lines as their origin stored them.
    public static func restore(_ lines: [[UInt8]]) throws(Failure) -> [[UInt8]] {
        var previous: (origin: ArraySlice<UInt8>, seq: UInt64, hash: EventHash)? = nil
        var out: [[UInt8]] = []
        out.reserveCapacity(lines.count)
        for (i, line) in lines.enumerated() {
            guard let head = Head(line) else { throw Failure(description: "events[\(i)]: no origin and seq at the start") }
            if head.hasID {
                // Whole: its hash is read back for the next line's `prev`.
                previous = Layout(stored: line).flatMap { l in EventHash(hex: line[l.hash].dropFirst(9).dropLast()).map { (l.origin, l.seq, $0) } }
                out.append(line)
                continue
            }
            let origin = line[head.origin]
            var restored: [UInt8] = []
            restored.reserveCapacity(line.count + 180)
            restored += line[..<head.end]
            restored += Array(",\"id\":\"".utf8)
            restored += origin
            restored.append(UInt8(ascii: ":"))
            restored += Array(String(head.seq).utf8)
            restored.append(UInt8(ascii: "\""))
            let rest = line[head.end...]
            if !rest.starts(with: Self.prevMember) && head.seq > 1 {
                guard let p = previous, p.origin == origin, p.seq + 1 == head.seq else {
                    throw Failure(description: "events[\(i)]: seq \(head.seq) has no prev and does not follow the line before it")
                }
                restored += Self.prevMember
                p.hash.appendHex(to: &restored)
                restored.append(UInt8(ascii: "\""))
            }
            // The tail: `,"sig":"<88>"}` or `}`; before it, the end of `data`.
            let signed = line.count >= 2 && line[line.count - 2] == UInt8(ascii: "\"")
            let tailLength = signed ? Self.sigTailLength : 1
            guard line.count - tailLength > head.end,
                !signed || line[(line.count - tailLength)...].starts(with: Self.sigMember)
            else { throw Failure(description: "events[\(i)]: malformed end of line") }
            restored += line[head.end..<(line.count - tailLength)]
            let hash = restored.withUnsafeBufferPointer { Event.computeHash(prefix: $0) }
            restored += Self.hashMember
            hash.appendHex(to: &restored)
            restored.append(UInt8(ascii: "\""))
            restored += line[(line.count - tailLength)...]
            previous = (origin, head.seq, hash)
            out.append(restored)
        }
        return out
    }

    static let prevMember = Array(",\"prev\":\"".utf8)
    static let hashMember = Array(",\"hash\":\"".utf8)
    static let sigMember = Array(",\"sig\":\"".utf8)
    /// `,"sig":"` + 88 base64 characters (64 bytes) + `"}`.
    static let sigTailLength = 8 + 88 + 2

    /// `{"origin":"…","seq":N` read from the start of a line, and whether `,"id":` follows.
    struct Head {
        var origin: Range<Int>
        var seq: UInt64
        /// Just after the seq digits.
        var end: Int
        var hasID: Bool

        init?(_ line: [UInt8]) {
            let start = Array("{\"origin\":\"".utf8)
            guard line.starts(with: start) else { return nil }
            var i = start.count
            // Node ids are plain ASCII (NodeID.isValid): no escapes to skip.
            while i < line.count, line[i] != UInt8(ascii: "\"") {
                guard line[i] != UInt8(ascii: "\\") else { return nil }
                i += 1
            }
            origin = start.count..<i
            let seqLiteral = Array("\",\"seq\":".utf8)
            guard line[i...].starts(with: seqLiteral) else { return nil }
            i += seqLiteral.count
            var seq: UInt64 = 0
            let digits = i
            while i < line.count, line[i] >= UInt8(ascii: "0"), line[i] <= UInt8(ascii: "9"), i - digits < 20 {
                let (m, o1) = seq.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(line[i] - UInt8(ascii: "0")))
                guard !o1, !o2 else { return nil }
                seq = a
                i += 1
            }
            guard i > digits else { return nil }
            self.seq = seq
            end = i
            hasID = line[i...].starts(with: Array(",\"id\":".utf8))
        }
    }

    /// Where the derivable members sit in a stored line.
    struct Layout {
        var origin: ArraySlice<UInt8>
        var seq: UInt64
        /// `,"id":"O:N"`.
        var id: Range<Int>
        /// `,"prev":"<hex>"`, when present.
        var prev: Range<Int>?
        /// `,"hash":"<hex>"`.
        var hash: Range<Int>

        init?(stored line: [UInt8]) {
            guard let head = Head(line), head.hasID else { return nil }
            origin = line[head.origin]
            seq = head.seq
            var i = head.end + 7  // ,"id":"
            while i < line.count, line[i] != UInt8(ascii: "\"") { i += 1 }
            guard i < line.count else { return nil }
            id = head.end..<(i + 1)
            i += 1
            if line[i...].starts(with: CompactEventLine.prevMember) {
                let end = i + CompactEventLine.prevMember.count + 64 + 1
                guard end <= line.count, line[end - 1] == UInt8(ascii: "\"") else { return nil }
                prev = i..<end
            }
            // Signed: ends `,"sig":"<88>"}`; unsigned: ends `"}` too (the hash's quote), so the
            // sig member itself decides.
            let signed =
                line.count > CompactEventLine.sigTailLength
                && line[(line.count - CompactEventLine.sigTailLength)...].starts(with: CompactEventLine.sigMember)
            let tail = signed ? CompactEventLine.sigTailLength : 1
            let hashStart = line.count - tail - (CompactEventLine.hashMember.count + 64 + 1)
            guard hashStart > (prev?.upperBound ?? id.upperBound), line[hashStart...].starts(with: CompactEventLine.hashMember),
                line.last == UInt8(ascii: "}")
            else { return nil }
            hash = hashStart..<(line.count - tail)
        }
    }
}

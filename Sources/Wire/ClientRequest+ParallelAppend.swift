// An append request of the form this project's clients write, read without its canonical
// form: in parts, each on its own thread, for a long request (an import's request of ~3,000
// events and 1 MiB, say), or as one part for a short one, and put together in order.
//
// The form: `{"op":"append","events":[` then the event objects with a comma and nothing else
// between them, then `]}` and the end of the line. Where the parts start is guessed: at a `},{`
// near each part's share of the line. A guess may fall inside a string (`"x},{"` is a string),
// so no part is trusted until the part before it has ended exactly there, on the comma before
// the guess; the first part starts where the events do.
//
// Each event is read by `readEvent` when it is `{"type":T,"sector":S,"data":D}` (the three
// members in any order, no whitespace, keys and the two names plain ASCII strings): the names
// are matched as bytes (the type against the catalogue's wire names as it is read, the sector by
// `EventValidator.accepted`), and `D`, when it comes after `T` already in canonical form (as
// this project's clients send it), is checked in one walk and kept as it came
// (`EventValidator.canonicalPayloadEnd`); any other `D` is written in canonical form, at the
// depth it has in the whole request, and then checked. Any other event is written whole in
// canonical form (`JSONParser.writeCanonicalValue`) and checked by
// `EventValidator.validate(canonicalEvent:)`, the steps the one-thread reading (`parseWhole`)
// takes over the whole request's canonical bytes. Either way the events come out byte for byte
// as that reading gives them.
//
// Anything else gives nil and the request is read whole on one thread, which also gives every
// refusal: a wrong guess, a refused event, a JSON error, too many events, whitespace, another
// member. So a refusal's code, message and offset never depend on how the request was read.

import Dispatch
public import IncidentModel

extension ClientRequest {
    /// How an append request of the parallel form begins, as this project's clients write it
    /// (`Requests.append`, `JSONLImporter`).
    public static let eventsArrayPrefix = Array(#"{"op":"append","events":["#.utf8)
    /// Below this many bytes for each thread, a request is read on one thread.
    public static let parallelBytesPerThread = 32 * 1024
    /// The nesting depth of an event object's value in an append request (the request object is
    /// 1, `events` 2), as the one-thread reading counts it.
    static let eventDepth = 2

    /// The events of an append request of the parallel form, read in up to `threads` parts at
    /// once (one part, on this thread, when the request is shorter than two parts'
    /// `bytesPerThread`); nil when the request is not of that form or any part fails (the caller
    /// then reads it whole). Open to the fuzzer (`request` harness),
    /// which holds it to the one-thread reading with tiny parts, read one after the other
    /// (`concurrently` false: the same parts, without a thread wake-up per input).
    @_spi(Fuzzing) public static func parallelAppendEvents(
        line: UnsafeBufferPointer<UInt8>, validator: EventValidator, maximumEvents: Int, threads: Int,
        bytesPerThread: Int = parallelBytesPerThread, concurrently: Bool = true
    ) -> [NewEvent]? {
        let n = line.count
        let parts = max(1, min(threads, n / max(1, bytesPerThread)))
        guard n > eventsArrayPrefix.count + 2, line.starts(with: eventsArrayPrefix), line[n - 2] == UInt8(ascii: "]"),
            line[n - 1] == UInt8(ascii: "}")
        else { return nil }
        let close = n - 2  // the array's closing bracket
        guard parts > 1 else {
            return readPart(line, from: eventsArrayPrefix.count, to: nil, close: close, validator: validator, maximumEvents: maximumEvents)
        }
        // Where each part starts: the first at the first event, the others guessed.
        var starts = [eventsArrayPrefix.count]
        for k in 1..<parts {
            var i = max(n * k / parts, starts[starts.count - 1])
            while i + 2 < close, !(line[i] == UInt8(ascii: "}") && line[i + 1] == UInt8(ascii: ",") && line[i + 2] == UInt8(ascii: "{")) {
                i += 1
            }
            guard i + 2 < close else { break }
            starts.append(i + 2)
        }
        guard starts.count > 1 else {
            return readPart(line, from: starts[0], to: nil, close: close, validator: validator, maximumEvents: maximumEvents)
        }
        var results = [[NewEvent]?](repeating: nil, count: starts.count)
        results.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            nonisolated(unsafe) let line = line
            let starts = starts
            @Sendable func read(_ part: Int) {
                // Each part writes only its own slot.
                let end = part + 1 < starts.count ? starts[part + 1] : nil
                out[part] = readPart(line, from: starts[part], to: end, close: close, validator: validator, maximumEvents: maximumEvents)
            }
            if concurrently {
                DispatchQueue.concurrentPerform(iterations: starts.count, execute: read)
            } else {
                for part in starts.indices { read(part) }
            }
        }
        var events: [NewEvent] = []
        events.reserveCapacity(results.reduce(0) { $0 + ($1?.count ?? 0) })
        for part in results {
            guard let part else { return nil }
            events.append(contentsOf: part)
        }
        guard events.count <= maximumEvents else { return nil }
        return events
    }

    /// The events from `start` until the comma before `end` (a part's guessed successor), or,
    /// for the last part (`end` nil), until the array's closing bracket at `close`; nil when an
    /// event is refused or the events do not end exactly there.
    static func readPart(
        _ line: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int?, close: Int, validator: EventValidator, maximumEvents: Int
    ) -> [NewEvent]? {
        var events: [NewEvent] = []
        var canonical: [UInt8] = []
        var i = start
        while true {
            let valueEnd: Int
            if let read = readEvent(line, at: i, validator: validator, scratch: &canonical) {
                events.append(read.event)
                valueEnd = read.end
            } else {
                canonical.removeAll(keepingCapacity: true)
                do {
                    valueEnd = try JSONParser.writeCanonicalValue(in: line, at: i, depth: eventDepth, into: &canonical)
                    let event = try canonical.withUnsafeBufferPointer { bytes in
                        try validator.validate(canonicalEvent: bytes, 0..<bytes.count)
                    }
                    events.append(event)
                } catch {
                    return nil
                }
            }
            guard events.count <= maximumEvents, valueEnd < line.count else { return nil }
            if line[valueEnd] == UInt8(ascii: "]") {
                return end == nil && valueEnd == close ? events : nil
            }
            guard line[valueEnd] == UInt8(ascii: ",") else { return nil }
            i = valueEnd + 1
            if let end, i >= end { return i == end ? events : nil }
        }
    }

    /// The event object at `start` when it is of the common form (the top of this file), read
    /// without writing the object: its `data` written in canonical form (into `scratch`, then
    /// copied out at its size), its type and sector matched as bytes. Returns the event and the
    /// index past its closing brace; nil for any other form and for any refusal, and the caller
    /// then reads the event the general way, which words the refusal.
    static func readEvent(
        _ line: UnsafeBufferPointer<UInt8>, at start: Int, validator: EventValidator, scratch: inout [UInt8]
    ) -> (event: NewEvent, end: Int)? {
        guard start < line.count, line[start] == UInt8(ascii: "{") else { return nil }
        var type: EventType? = nil
        var sector: Range<Int>? = nil
        var data: [UInt8]? = nil
        var checked = false
        var i = start + 1
        while true {
            guard let key = plainString(line, at: i) else { return nil }
            i = key.upperBound + 1
            guard i < line.count, line[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            let name = UnsafeBufferPointer(rebasing: line[key])
            if name.sameBytes("data") {
                guard data == nil else { return nil }
                // After its type (as this project's clients write an event), a payload that is
                // canonical already is checked in one walk and taken as it came.
                if let type, let end = EventValidator.canonicalPayloadEnd(line, at: i, type: type) {
                    data = Array(UnsafeBufferPointer(rebasing: line[i..<end]))
                    checked = true
                    i = end
                } else {
                    scratch.removeAll(keepingCapacity: true)
                    // The depth `data` has in the whole request: inside the event object.
                    guard let end = try? JSONParser.writeCanonicalValue(in: line, at: i, depth: eventDepth + 1, into: &scratch) else {
                        return nil
                    }
                    data = Array(scratch)
                    i = end
                }
            } else if name.sameBytes("type") {
                // Matched against the catalogue's wire names as bytes; an unknown type is a
                // refusal, which the general reading words.
                guard type == nil, let value = plainString(line, at: i),
                    let known = EventType(plainWireName: UnsafeBufferPointer(rebasing: line[value]))
                else { return nil }
                type = known
                i = value.upperBound + 1
            } else if name.sameBytes("sector") {
                guard sector == nil, let value = plainString(line, at: i) else { return nil }
                sector = value
                i = value.upperBound + 1
            } else {
                return nil
            }
            guard i < line.count else { return nil }
            if line[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            guard line[i] == UInt8(ascii: "}"), let type, let sector, let data else { return nil }
            let event = validator.accepted(
                type: type, plainSector: UnsafeBufferPointer(rebasing: line[sector]), canonicalData: data, checked: checked)
            return event.map { ($0, i + 1) }
        }
    }

    /// The contents of the string at `start` when it is plain: printable ASCII without an escape,
    /// so that its bytes are its value and its canonical form; nil otherwise.
    @inline(__always)
    static func plainString(_ line: UnsafeBufferPointer<UInt8>, at start: Int) -> Range<Int>? {
        guard start < line.count, line[start] == UInt8(ascii: "\"") else { return nil }
        var i = start + 1
        while i < line.count {
            let b = line[i]
            if b == UInt8(ascii: "\"") { return (start + 1)..<i }
            guard b >= 0x20, b < 0x80, b != UInt8(ascii: "\\") else { return nil }
            i += 1
        }
        return nil
    }
}

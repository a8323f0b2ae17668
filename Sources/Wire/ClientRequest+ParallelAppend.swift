// A long append request read on several threads at once (an import's request of ~3,000 events
// and 1 MiB, say): the events are read in parts, each part on its own thread, the way the one
// thread reading reads them, and put together in order.
//
// Only the form this project's clients write is read so: `{"op":"append","events":[` then the
// event objects with a comma and nothing else between them, then `]}` and the end of the line.
// Where the parts start is guessed: at a `},{` near each part's share of the line. A guess may
// fall inside a string (`"x},{"` is a string), so no part is trusted until the part before it
// has ended exactly there, on the comma before the guess; the first part starts where the
// events do. Each event is written in canonical form (`JSONParser.writeCanonicalValue`, at the
// depth an event has in the whole request) and checked by `EventValidator.validate(canonicalEvent:)`,
// the same steps the one-thread reading takes over the whole request's canonical bytes, so the
// events come out byte for byte the same.
//
// Anything else gives nil and the request is read on one thread, which also gives every
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
    /// once; nil when the request is not of that form, is too short to be worth it, or any part
    /// fails (the caller then reads it on one thread). Open to the fuzzer (`request` harness),
    /// which holds it to the one-thread reading with tiny parts, read one after the other
    /// (`concurrently` false: the same parts, without a thread wake-up per input).
    @_spi(Fuzzing) public static func parallelAppendEvents(
        line: UnsafeBufferPointer<UInt8>, validator: EventValidator, maximumEvents: Int, threads: Int,
        bytesPerThread: Int = parallelBytesPerThread, concurrently: Bool = true
    ) -> [NewEvent]? {
        let n = line.count
        let parts = min(threads, n / max(1, bytesPerThread))
        guard parts > 1, line.starts(with: eventsArrayPrefix), line[n - 2] == UInt8(ascii: "]"), line[n - 1] == UInt8(ascii: "}")
        else { return nil }
        let close = n - 2  // the array's closing bracket
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
        guard starts.count > 1 else { return nil }
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
            canonical.removeAll(keepingCapacity: true)
            let valueEnd: Int
            do {
                valueEnd = try JSONParser.writeCanonicalValue(in: line, at: i, depth: eventDepth, into: &canonical)
                let event = try canonical.withUnsafeBufferPointer { bytes in
                    try validator.validate(canonicalEvent: bytes, 0..<bytes.count)
                }
                events.append(event)
            } catch {
                return nil
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
}

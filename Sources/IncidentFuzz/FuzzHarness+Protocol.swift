import IncidentModel
@_spi(Fuzzing) import Wire

extension FuzzHarness {
    static let ingestPrefix = Array("{\"op\":\"ingest\",\"events\":[".utf8)

    /// `ClientRequest.parse` as the client listener calls it. What it accepts must be what the
    /// node may act on: an append's events still valid after their canonical encoding (that is
    /// what the store writes), an ingest's lines exact byte slices of the request, read bounds
    /// within their limits.
    static func clientRequest(_ line: UnsafeBufferPointer<UInt8>, accepted: inout Set<String>) throws(PropertyViolation)
    {
        let validator = EventValidator()
        // The same request read in tiny parts: nothing, or the same events. One after the other:
        // the parts' logic is what is fuzzed, and a thread wake-up per input would cost most of
        // the run (ParallelAppendTests reads them concurrently).
        let parts = ClientRequest.parallelAppendEvents(
            line: line, validator: validator, maximumEvents: maximumEvents, threads: 3, bytesPerThread: 16, concurrently: false)
        // The public entry, which reads the request as one part when it can: the same outcome
        // as the whole reading, a refusal in the same words.
        let entry = Result { () throws(WireError) in
            try ClientRequest.parse(line: line, validator: validator, maximumEvents: maximumEvents)
        }
        let request: ClientRequest
        do {
            request = try ClientRequest.parseWhole(line: line, validator: validator, maximumEvents: maximumEvents)
        } catch {
            try require(parts == nil, "request", "read in parts, an append one thread refuses (\(error.message)) was accepted")
            guard case .failure(let refusal) = entry else {
                throw PropertyViolation(
                    harness: "request", message: "the public entry accepts what the whole reading refuses (\(error.message))")
            }
            try require(
                refusal.code == error.code && refusal.message == error.message, "request",
                "the public entry refuses with other words: \(refusal.message) against \(error.message)")
            return
        }
        guard case .success(let entered) = entry else {
            throw PropertyViolation(harness: "request", message: "the public entry refuses what the whole reading accepts")
        }
        if case .append(let events) = request {
            guard case .append(let others) = entered, others.count == events.count,
                zip(others, events).allSatisfy({ $0.type == $1.type && $0.sector == $1.sector && $0.canonicalData == $1.canonicalData })
            else { throw PropertyViolation(harness: "request", message: "the public entry reads other events than the whole reading") }
        }
        switch request {
        case .append(let events):
            accepted.insert("request.append")
            if let parts {
                accepted.insert("request.append.parts")
                try require(
                    parts.count == events.count
                        && zip(parts, events).allSatisfy {
                            $0.type == $1.type && $0.sector == $1.sector && $0.canonicalData == $1.canonicalData
                        },
                    "request", "read in parts, other events than one thread reads")
            }
            try require(!events.isEmpty && events.count <= maximumEvents, "request", "append of \(events.count) events")
            for event in events {
                let canonical = event.canonicalData
                let reparsed: JSONValue
                do {
                    reparsed = try JSONParser.parse(canonical)
                } catch {
                    throw PropertyViolation(
                        harness: "request", message: "canonical data does not parse: \(error) in \(show(canonical))")
                }
                do {
                    try validator.validate(data: reparsed, type: event.type)
                } catch {
                    throw PropertyViolation(harness: "request", message: "canonical data no longer valid: \(error)")
                }
                try require(
                    reparsed.canonicalBytes == canonical, "request", "canonical data not idempotent: \(show(canonical))"
                )
            }
        case .ingest(let lines):
            accepted.insert("request.ingest")
            var rebuilt = ingestPrefix
            for (i, l) in lines.enumerated() {
                if i > 0 { rebuilt.append(UInt8(ascii: ",")) }
                rebuilt.append(contentsOf: l)
            }
            rebuilt.append(contentsOf: "]}".utf8)
            try require(rebuilt.elementsEqual(line), "request", "ingest lines are not byte slices of the request")
        case .read(_, let limit, _, let waitMillis):
            accepted.insert("request.read")
            try require((1...ClientRequest.maximumReadLimit).contains(limit), "request", "read limit \(limit)")
            try require(
                (0...ClientRequest.maximumWaitMillis).contains(waitMillis), "request", "read wait_ms \(waitMillis)")
        case .get:
            accepted.insert("request.get")
        case .status:
            accepted.insert("request.status")
        case .sector, .overview, .incident:
            accepted.insert("request.view")
        case .incidents(let filters):
            accepted.insert("request.incidents")
            _ = filters
        }
    }

    /// `PeerMessage.parse`. An accepted message must encode to exactly one line that parses back
    /// to the same message, and an `events` message must re-encode to the very bytes received
    /// (event lines travel by byte range, never re-encoded).
    static func peerMessage(_ line: UnsafeBufferPointer<UInt8>, accepted: inout Set<String>) throws(PropertyViolation) {
        let bytes = Array(line)
        let message: PeerMessage
        do {
            message = try PeerMessage.parse(bytes)
        } catch {
            return
        }
        accepted.insert("peer.\(kind(of: message))")
        let encoded = message.encoded
        try require(encoded.last == UInt8(ascii: "\n"), "peer", "encoding does not end with a newline")
        let body = Array(encoded.dropLast())
        try require(!body.contains(UInt8(ascii: "\n")), "peer", "encoding holds a raw newline: \(show(body))")
        let again: PeerMessage
        do {
            again = try PeerMessage.parse(body)
        } catch {
            throw PropertyViolation(harness: "peer", message: "own encoding refused: \(error) in \(show(body))")
        }
        try require(again == message, "peer", "round trip changed the message: \(show(body))")
        switch message {
        case .events, .fresh: try require(body == bytes, "peer", "events message not re-encoded byte for byte")
        default: break
        }
    }

    static func kind(of message: PeerMessage) -> String {
        switch message {
        case .hello: "hello"
        case .proof: "proof"
        case .events: "events"
        case .fresh: "fresh"
        case .compress: "compress"
        case .ack: "ack"
        case .refused: "refused"
        case .ping: "ping"
        case .pong: "pong"
        case .error: "error"
        }
    }

    /// `Event.parse` and `hashIsValid`, as recovery, reads and ingest use them. An accepted event's
    /// fields must describe its own line: `id` is `origin:seq`, `data` is an object slice of the
    /// line, the hashed prefix ends where `,"hash":"` begins.
    static func event(_ line: UnsafeBufferPointer<UInt8>, accepted: inout Set<String>) throws(PropertyViolation) {
        let bytes = Array(line)
        let event: Event
        do {
            event = try Event.parse(line: bytes)
        } catch {
            return
        }
        accepted.insert("event")
        try require(event.line == bytes, "event", "line not kept as given")
        try require(
            event.seq >= 1 && (event.prev == nil) == (event.seq == 1), "event",
            "seq \(event.seq) with prev \(event.prev != nil)")
        try require(NodeID.isValid(event.origin), "event", "invalid origin \(event.origin.debugDescription) accepted")
        try require(
            event.dataRange.lowerBound >= 0 && event.dataRange.upperBound <= bytes.count, "event",
            "data range outside the line")
        try require(bytes[event.dataRange.lowerBound] == UInt8(ascii: "{"), "event", "data is not an object")
        try require(
            event.hashedPrefixEnd == event.dataRange.upperBound, "event", "hashed prefix does not end after data")
        try require(
            bytes[event.hashedPrefixEnd...].starts(with: ",\"hash\":\"".utf8), "event",
            "hashed prefix does not end at hash")
        try require(
            event.signature.map { $0.count == 64 } ?? true, "event", "signature of \(event.signature?.count ?? 0) bytes"
        )
        let recomputed = bytes.withUnsafeBufferPointer {
            Event.computeHash(prefix: UnsafeBufferPointer(rebasing: $0[..<event.hashedPrefixEnd]))
        }
        try require(
            event.hashIsValid == (recomputed == event.hash), "event", "hashIsValid disagrees with the recomputed hash")
        if event.hashIsValid { accepted.insert("event.hash_valid") }
    }
}

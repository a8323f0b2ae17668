public import IncidentModel

/// A request of the client protocol: one JSON object per line, its operation in `op`.
///
///   {"op":"append","events":[{"type":…,"sector":…,"data":{…}}, …]}   (or "event":{…} for one)
///   {"op":"get","id":"gao:12"}
///   {"op":"read","from":0,"limit":100}                 (+ "beyond":{vector}, "wait_ms":N)
///   {"op":"ingest","events":[<stored event line>,…]}   (members in exactly this order)
///   {"op":"status"}
public enum ClientRequest: Sendable {
    case append([NewEvent])
    case get(id: String)
    /// Stored lines from `from`; only those beyond `beyond` when given; when none is there yet,
    /// wait up to `waitMillis` for new ones (long poll, for `incidentctl tail`).
    case read(from: UInt64, limit: Int, beyond: VersionVector?, waitMillis: Int)
    /// Signed events from another node (a bundle), applied under the ingest rule.
    case ingest([[UInt8]])
    case status
    /// Projection queries (docs/PROTOCOL.md, "Views"). Times are dates (2026-11-29) or RFC 3339.
    case sector(name: String, since: String?, until: String?)
    case overview(since: String?, until: String?)
    case incident(id: String)
    case incidents(Filters)

    /// Filters of `incidents`.
    public struct Filters: Sendable, Equatable {
        public var sector: String?
        public var category: String?
        public var status: String?
        public var verification: String?
        public var since: String?
        public var until: String?
        public var limit: Int
        public var cursor: String?
    }

    /// The longest a `read` may wait.
    public static let maximumWaitMillis = 60_000
    static let ingestPrefix = Array("{\"op\":\"ingest\",\"events\":[".utf8)

    /// The largest `limit` a `read` may ask for.
    public static let maximumReadLimit = 10_000

    /// Parses and validates a request line. Event payloads are validated here, so a request
    /// that reaches the store is known good. An append of the form this project's clients
    /// write is read in parts, a long one on up to `threads` threads at once
    /// (ClientRequest+ParallelAppend.swift); the outcome is that of `parseWhole`.
    public static func parse(
        line: UnsafeBufferPointer<UInt8>, validator: EventValidator, maximumEvents: Int, threads: Int = 1
    ) throws(WireError) -> ClientRequest {
        if line.starts(with: eventsArrayPrefix),
            let events = parallelAppendEvents(line: line, validator: validator, maximumEvents: maximumEvents, threads: threads)
        {
            return .append(events)
        }
        return try parseWhole(line: line, validator: validator, maximumEvents: maximumEvents)
    }

    /// Parses a request line as one whole, on this thread: the reading that words every
    /// refusal, which `parse` falls back on and the tests and the fuzzer hold its parts to.
    @_spi(Fuzzing) public static func parseWhole(
        line: UnsafeBufferPointer<UInt8>, validator: EventValidator, maximumEvents: Int
    ) throws(WireError) -> ClientRequest {
        if line.starts(with: ingestPrefix) {
            do throws(PeerMessage.ParseError) {
                return .ingest(try EventArray.split(Array(line), prefixLength: ingestPrefix.count))
            } catch {
                throw WireError(.invalidRequest, "ingest: \(error.reason)")
            }
        }
        if line.starts(with: appendPrefix) {
            return try parseAppend(line: line, validator: validator, maximumEvents: maximumEvents)
        }
        let json: JSONValue
        do throws(JSONParser.Error) {
            json = try JSONParser.parse(buffer: line)
        } catch {
            throw WireError(json: error)
        }
        guard json.objectMembers != nil else { throw WireError(.invalidRequest, "a request is a JSON object") }
        guard let opValue = json["op"] else { throw WireError(.invalidRequest, "op: required") }
        guard let op = opValue.stringValue else { throw WireError(.invalidRequest, "op: expected string") }
        switch op {
        case "append":
            // Any other spelling of an append (members in another order, whitespace): the same
            // reading over the canonical form of the tree.
            return try json.canonicalBytes.withUnsafeBufferPointer { canonical throws(WireError) in
                try appendEvents(canonical: canonical, validator: validator, maximumEvents: maximumEvents)
            }
        case "get":
            guard let id = json["id"]?.stringValue else { throw WireError(.invalidRequest, "id: required string") }
            return .get(id: id)
        case "read":
            func integer(_ key: String, _ fallback: Int64) throws(WireError) -> Int64 {
                guard let v = json[key] else { return fallback }
                guard let n = v.integerValue else { throw WireError(.invalidRequest, "\(key): expected an integer") }
                return n
            }
            let from = try integer("from", 0)
            let limit = try integer("limit", 100)
            guard from >= 0 else { throw WireError(.invalidRequest, "from: must not be negative") }
            guard limit >= 1, limit <= Int64(maximumReadLimit) else {
                throw WireError(.invalidRequest, "limit: must be between 1 and \(maximumReadLimit)")
            }
            var beyond: VersionVector? = nil
            if let b = json["beyond"] {
                guard let v = VersionVector(json: b) else { throw WireError(.invalidRequest, "beyond: expected an object of node id → seq") }
                beyond = v
            }
            let wait = try integer("wait_ms", 0)
            guard wait >= 0, wait <= Int64(maximumWaitMillis) else {
                throw WireError(.invalidRequest, "wait_ms: must be between 0 and \(maximumWaitMillis)")
            }
            return .read(from: UInt64(from), limit: Int(limit), beyond: beyond, waitMillis: Int(wait))
        case "status":
            return .status
        case "ingest":
            throw WireError(.invalidRequest, "ingest: members must be exactly {\"op\":\"ingest\",\"events\":[…]}")
        case "sector", "overview", "incident", "incidents":
            return try parseQuery(op, json)
        default:
            throw WireError(.unknownRequest, "unknown op \"\(op)\" (known: append, get, read, ingest, status, sector, overview, incident, incidents)")
        }
    }
}

extension ClientRequest {
    /// How every append this project's clients send begins.
    static let appendPrefix = Array(#"{"op":"append","#.utf8)

    /// An append request read without a tree: the scanner checks the line as the parser would
    /// (same errors) and writes its canonical form, which is then read in place.
    static func parseAppend(
        line: UnsafeBufferPointer<UInt8>, validator: EventValidator, maximumEvents: Int
    ) throws(WireError) -> ClientRequest {
        let canonical: [UInt8]
        do throws(JSONParser.Error) {
            canonical = try JSONParser.canonical(buffer: line)
        } catch {
            throw WireError(json: error)
        }
        return try canonical.withUnsafeBufferPointer { bytes throws(WireError) in
            try appendEvents(canonical: bytes, validator: validator, maximumEvents: maximumEvents)
        }
    }

    /// The events of an append request given in canonical form (an object whose `op` is
    /// "append"): `events` (an array) or else `event` (one), each checked by `validator`.
    static func appendEvents(
        canonical bytes: UnsafeBufferPointer<UInt8>, validator: EventValidator, maximumEvents: Int
    ) throws(WireError) -> ClientRequest {
        let p = PayloadReader(bytes)
        var eventsValue: Range<Int>? = nil
        var eventValue: Range<Int>? = nil
        _ = try? p.members(of: 0, bytes.count, notCanonical: { _ in JSONParser.Error(offset: 0, reason: "not canonical") }) {
            key, simple, v throws(JSONParser.Error) in
            let end = try JSONParser.skipValue(in: bytes, from: v)
            if simple, p.raw(key).elementsEqual("events".utf8) { eventsValue = v..<end }
            if simple, p.raw(key).elementsEqual("event".utf8) { eventValue = v..<end }
            return end
        }
        var objects: [Range<Int>] = []
        if let events = eventsValue {
            guard bytes[events.lowerBound] == UInt8(ascii: "[") else { throw WireError(.invalidRequest, "events: expected array") }
            var i = events.lowerBound + 1
            while bytes[i] != UInt8(ascii: "]") {
                let end: Int
                do throws(JSONParser.Error) { end = try JSONParser.skipValue(in: bytes, from: i) } catch {
                    throw WireError(json: error)
                }
                objects.append(i..<end)
                i = bytes[end] == UInt8(ascii: ",") ? end + 1 : end
            }
        } else if let event = eventValue {
            objects = [event]
        } else {
            throw WireError(.invalidRequest, "events: required")
        }
        guard !objects.isEmpty else { throw WireError(.invalidRequest, "events: must not be empty") }
        guard objects.count <= maximumEvents else {
            throw WireError(.tooManyEvents, "an append holds at most \(maximumEvents) events, got \(objects.count)")
        }
        var events: [NewEvent] = []
        events.reserveCapacity(objects.count)
        let prefix = eventsValue != nil
        for (i, object) in objects.enumerated() {
            do {
                events.append(try validator.validate(canonicalEvent: bytes, object))
            } catch {
                let field = prefix ? "events[\(i)].\(error.field)" : error.field
                throw WireError(.invalidEvent, "\(field): \(error.reason)", field: field)
            }
        }
        return .append(events)
    }

    static func parseQuery(_ op: String, _ json: JSONValue) throws(WireError) -> ClientRequest {
        func string(_ key: String) throws(WireError) -> String? {
            guard let v = json[key] else { return nil }
            if case .null = v { return nil }
            guard let s = v.stringValue else { throw WireError(.invalidRequest, "\(key): expected string") }
            return s
        }
        switch op {
        case "sector":
            guard let name = try string("sector") else { throw WireError(.invalidRequest, "sector: required") }
            return .sector(name: name, since: try string("since"), until: try string("until"))
        case "overview":
            return .overview(since: try string("since"), until: try string("until"))
        case "incident":
            guard let id = try string("id") else { throw WireError(.invalidRequest, "id: required (the incident_id)") }
            return .incident(id: id)
        default:
            var limit = 50
            if let v = json["limit"] {
                guard let n = v.integerValue else { throw WireError(.invalidRequest, "limit: expected an integer") }
                limit = Int(clamping: n)
            }
            return .incidents(
                Filters(
                    sector: try string("sector"), category: try string("category"), status: try string("status"),
                    verification: try string("verification"), since: try string("since"), until: try string("until"),
                    limit: limit, cursor: try string("cursor")))
        }
    }
}

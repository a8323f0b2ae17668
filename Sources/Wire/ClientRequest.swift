public import IncidentModel

/// A request of the client protocol: one JSON object per line, its operation in `op`.
///
///   {"op":"append","events":[{"type":…,"sector":…,"data":{…}}, …]}   (or "event":{…} for one)
///   {"op":"get","id":"gao:12"}
///   {"op":"read","from":0,"limit":100}
///   {"op":"status"}
public enum ClientRequest: Sendable {
    case append([NewEvent])
    case get(id: String)
    case read(from: UInt64, limit: Int)
    case status

    /// The largest `limit` a `read` may ask for.
    public static let maximumReadLimit = 10_000

    /// Parses and validates a request line. Event payloads are validated here, so a request
    /// that reaches the store is known good.
    public static func parse(
        line: UnsafeBufferPointer<UInt8>, validator: EventValidator, maximumEvents: Int
    ) throws(WireError) -> ClientRequest {
        let json: JSONValue
        do {
            json = try JSONParser.parse(buffer: line)
        } catch {
            throw WireError(.invalidJSON, error.description)
        }
        guard json.objectMembers != nil else { throw WireError(.invalidRequest, "a request is a JSON object") }
        guard let opValue = json["op"] else { throw WireError(.invalidRequest, "op: required") }
        guard let op = opValue.stringValue else { throw WireError(.invalidRequest, "op: expected string") }
        switch op {
        case "append":
            var objects: [JSONValue]
            if let events = json["events"] {
                guard let array = events.arrayValue else { throw WireError(.invalidRequest, "events: expected array") }
                objects = array
            } else if let event = json["event"] {
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
            let prefix = json["events"] != nil
            for (i, object) in objects.enumerated() {
                do {
                    events.append(try validator.validate(object))
                } catch {
                    let field = prefix ? "events[\(i)].\(error.field)" : error.field
                    throw WireError(.invalidEvent, "\(field): \(error.reason)", field: field)
                }
            }
            return .append(events)
        case "get":
            guard let id = json["id"]?.stringValue else { throw WireError(.invalidRequest, "id: required string") }
            return .get(id: id)
        case "read":
            let from = json["from"]?.integerValue ?? 0
            let limit = json["limit"]?.integerValue ?? 100
            guard from >= 0 else { throw WireError(.invalidRequest, "from: must not be negative") }
            guard limit >= 1, limit <= Int64(maximumReadLimit) else {
                throw WireError(.invalidRequest, "limit: must be between 1 and \(maximumReadLimit)")
            }
            return .read(from: UInt64(from), limit: Int(limit))
        case "status":
            return .status
        default:
            throw WireError(.unknownRequest, "unknown op \"\(op)\" (known: append, get, read, status)")
        }
    }
}

public import IncidentModel

/// The stable error codes of the client protocol (docs/PROTOCOL.md). The raw value is what goes
/// on the wire; a code is never renamed once shipped.
public enum WireErrorCode: String, Sendable, CaseIterable {
    case invalidJSON = "invalid_json"
    case invalidRequest = "invalid_request"
    case invalidEvent = "invalid_event"
    case unknownRequest = "unknown_request"
    case lineTooLong = "line_too_long"
    case tooManyEvents = "too_many_events"
    case diskFull = "disk_full"
    case storeFailed = "store_failed"
    case notFound = "not_found"
    /// A view query with a bad filter, range, limit or cursor.
    case invalidQuery = "invalid_query"
    case shuttingDown = "shutting_down"
    case internalError = "internal_error"
    // Who may do what, and the limits of a connection (docs/PROTOCOL.md, docs/SECURITY.md).
    /// No valid token: missing (the node requires one) or wrong.
    case unauthorized = "unauthorized"
    /// The token's role does not allow this request (an append outside an office's sectors).
    case forbidden = "forbidden"
    /// Too many open connections, in total or from this address; the node closes the connection.
    case tooManyConnections = "too_many_connections"
    /// The client does not read its responses; the node closes the connection.
    case slowConsumer = "slow_consumer"
    /// More requests per second than the connection's token bucket allows; the request was not run.
    case rateLimited = "rate_limited"
    /// No request (or no authentication) in time; the node closes the connection.
    case idleTimeout = "idle_timeout"
    /// JSON nested deeper than `JSONParser.maximumDepth` (64).
    case tooDeep = "too_deep"
    /// A JSON object with more than `JSONParser.maximumMembers` (10,000) members.
    case tooManyMembers = "too_many_members"
    /// An office's event names an incident whose report this node has not folded yet, so the
    /// incident's sector (which the office's rights are checked against) is unknown; retry once
    /// sync has delivered the report. Nothing was written.
    case unknownIncident = "unknown_incident"
}

/// An error as the client protocol sends it: `{"ok":false,"error":{"code":…,"message":…}}`.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: WireErrorCode
    public var message: String
    /// For `invalid_event`: the path of the refused field (`events[0].data.location.name`).
    public var field: String?

    public init(_ code: WireErrorCode, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(code.rawValue): \(message)" }

    /// A line the JSON parser refused: the parser's two limits have their own codes, anything
    /// else is `invalid_json`.
    public init(json error: JSONParser.Error) {
        switch error.kind {
        case .syntax: self.init(.invalidJSON, error.description)
        case .tooDeep: self.init(.tooDeep, error.description)
        case .tooManyMembers: self.init(.tooManyMembers, error.description)
        }
    }
}

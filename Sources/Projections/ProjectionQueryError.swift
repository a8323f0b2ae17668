/// A query the projections cannot answer as asked: a stable code for the wire and a message
/// for the person who asked.
public struct ProjectionQueryError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// `since`/`until` is neither a date (`2026-11-29`) nor an RFC 3339 UTC time.
        case invalidTime = "invalid_time"
        /// `since` is after `until`.
        case invalidRange = "invalid_range"
        /// A filter value outside its vocabulary (category, status, verification).
        case invalidFilter = "invalid_filter"
        /// A cursor this node did not hand out.
        case invalidCursor = "invalid_cursor"
        /// `limit` outside 1…`IncidentQuery.maximumLimit`.
        case invalidLimit = "invalid_limit"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

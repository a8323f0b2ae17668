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
    case shuttingDown = "shutting_down"
    case internalError = "internal_error"
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
}

/// An error of the store, with a stable code that the client protocol passes on unchanged.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Free space under the data directory is below the reserve; nothing was written.
        case diskFull = "disk_full"
        /// An earlier write or fsync failed; appends are refused until restart.
        case storeFailed = "store_failed"
        /// The store is closed (the node is shutting down).
        case closed = "shutting_down"
        /// A segment failed its checks on open.
        case corrupt = "corrupt_segment"
        /// The data directory could not be used.
        case io = "io_error"
        /// A replicated event conflicts with the one held for the same origin and seq.
        case fork = "fork"
        /// A replicated event is beyond the next seq of its origin.
        case gap = "gap"
        /// A replicated event's `prev` or hash does not match.
        case badChain = "bad_chain"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

import EventStore
import ServiceLifecycle

/// Keeps the store open while the node runs; on graceful shutdown (after the listeners, which
/// come later in the group, have stopped) lets the writer finish every queued append and closes.
/// The wait is bounded: a writer wedged in a write or an fsync does not hold the node up, and
/// the node then exits non-zero (its last appends may have gone unanswered).
struct StoreService: Service {
    let store: EventStore
    var closeTimeout: Duration = .seconds(5)

    struct CloseTimedOut: Error, CustomStringConvertible {
        var timeout: Duration
        var description: String { "the store writer did not finish within \(timeout); closed without it" }
    }

    func run() async throws {
        try? await gracefulShutdown()
        guard await store.close(timeout: closeTimeout) else { throw CloseTimedOut(timeout: closeTimeout) }
    }
}

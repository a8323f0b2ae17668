import EventStore
import ServiceLifecycle

/// Keeps the store open while the node runs; on graceful shutdown (after the listeners, which
/// come later in the group, have stopped) lets the writer finish every queued append and closes.
struct StoreService: Service {
    let store: EventStore

    func run() async throws {
        try? await gracefulShutdown()
        await store.close()
    }
}

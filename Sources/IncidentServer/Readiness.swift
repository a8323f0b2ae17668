import Synchronization
import Wire

/// Tracks the parts that must be up before the node is ready, and says so once: writes the
/// ready file, logs `node ready`, and lets the notifier send READY=1.
///
/// Parts today: `client` and `peer` (the listeners, with the address each got). The projection
/// service will add `projections`, marked `done` once its snapshot is loaded and caught up; the
/// node is not READY=1 before that.
final class Readiness: Sendable {
    struct State {
        var pending: Set<String>
        var addresses: [String: HostPort] = [:]
        var ready = false
    }

    let state: Mutex<State>
    let onReady: @Sendable ([String: HostPort]) -> Void
    let signal: AsyncStream<Void>
    let signalContinuation: AsyncStream<Void>.Continuation

    init(parts: Set<String>, onReady: @escaping @Sendable ([String: HostPort]) -> Void) {
        state = Mutex(State(pending: parts))
        self.onReady = onReady
        (signal, signalContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// A listener is bound at `address`.
    func bound(_ name: String, _ address: HostPort) {
        mark(name, address: address)
    }

    /// A part without an address is up.
    func done(_ name: String) {
        mark(name, address: nil)
    }

    var isReady: Bool { state.withLock { $0.ready } }

    /// Returns once every part is up (at once if they are), or when the task is cancelled.
    func wait() async {
        if isReady { return }
        for await _ in signal { return }
    }

    func mark(_ name: String, address: HostPort?) {
        let all = state.withLock { s -> [String: HostPort]? in
            if let address { s.addresses[name] = address }
            s.pending.remove(name)
            guard s.pending.isEmpty, !s.ready else { return nil }
            s.ready = true
            return s.addresses
        }
        guard let all else { return }
        onReady(all)
        signalContinuation.yield()
        signalContinuation.finish()
    }
}

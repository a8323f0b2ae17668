import Dispatch
import Synchronization

extension EventStore {
    /// A liveness probe for the service watchdog: true when the writer thread answers within
    /// `timeout`. The writer answers between commits, so a writer stuck in a write, an fsync or
    /// a deadlock does not, and neither does a closed store.
    public func ping(timeout: Duration) async -> Bool {
        let probe = LivenessProbe()
        return await withCheckedContinuation { continuation in
            probe.arm(continuation)
            let queued = queue.withLock { q -> Bool in
                guard !q.closing else { return false }
                q.probes.append(probe)
                return true
            }
            guard queued else {
                probe.answer(false)
                return
            }
            wake.signal()
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout.dispatchInterval) { probe.answer(false) }
        }
    }
}

/// One outstanding probe: answered once, by the writer (alive) or by the timer (not).
final class LivenessProbe: Sendable {
    let continuation = Mutex<CheckedContinuation<Bool, Never>?>(nil)

    func arm(_ c: CheckedContinuation<Bool, Never>) {
        continuation.withLock { $0 = c }
    }

    func answer(_ alive: Bool) {
        let c = continuation.withLock { c -> CheckedContinuation<Bool, Never>? in
            defer { c = nil }
            return c
        }
        c?.resume(returning: alive)
    }
}

extension Duration {
    /// The same span for Dispatch's deadlines, in whole microseconds.
    var dispatchInterval: DispatchTimeInterval {
        let (seconds, attoseconds) = components
        return .microseconds(Int(clamping: seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
    }
}

import Dispatch
import NIOCore
import Synchronization

/// Answers whether a part of the node responds in time, for the watchdog: the event loops
/// (each runs a no-op task) and the store writer (`EventStore.ping`).
enum LivenessProbe {
    /// True when `start` calls its completion within `timeout`.
    static func answered(within timeout: Duration, _ start: (@escaping @Sendable () -> Void) -> Void) async -> Bool {
        let once = Once()
        return await withCheckedContinuation { continuation in
            once.arm(continuation)
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout.dispatchInterval) { once.answer(false) }
            start { once.answer(true) }
        }
    }

    /// The event loops that do not run a task within `timeout`, by index.
    static func unresponsiveLoops(_ group: any EventLoopGroup, timeout: Duration) async -> [Int] {
        let loops = Array(group.makeIterator())
        return await withTaskGroup(of: (Int, Bool).self) { tasks in
            for (i, loop) in loops.enumerated() {
                tasks.addTask { (i, await answered(within: timeout) { done in loop.execute { done() } }) }
            }
            var stuck: [Int] = []
            for await (i, ok) in tasks where !ok { stuck.append(i) }
            return stuck.sorted()
        }
    }

    /// A continuation resumed exactly once, by whichever answer comes first.
    final class Once: Sendable {
        let continuation = Mutex<CheckedContinuation<Bool, Never>?>(nil)

        func arm(_ c: CheckedContinuation<Bool, Never>) {
            continuation.withLock { $0 = c }
        }

        func answer(_ value: Bool) {
            let c = continuation.withLock { c -> CheckedContinuation<Bool, Never>? in
                defer { c = nil }
                return c
            }
            c?.resume(returning: value)
        }
    }
}

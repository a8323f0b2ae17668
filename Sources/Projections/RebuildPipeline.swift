import Dispatch
public import IncidentModel
import Synchronization

/// Folding a stored log on two cores: a helper thread reads blocks of lines and prepares them
/// (`PreparedEvents.prepare`: envelopes and payloads read), while the calling thread applies the
/// previous batch to the state. Batches are applied in log order, one at a time, by the caller
/// alone, so the result is the fold of the log in order, as with one thread.
///
/// At most `depth` prepared batches wait: memory stays a few blocks whatever the log's size.
public enum RebuildPipeline {
    public static let depth = 2

    /// Calls `next` (on the helper thread) until it gives nil, preparing each block; hands each
    /// prepared batch, in order, to `apply` on the calling thread. `apply` returns false to stop
    /// early (the helper stops after the block it is on). Rethrows the first error of `next` or
    /// of preparing, after every batch before it was applied.
    public static func run(
        next: @escaping @Sendable () throws -> EventLineBlock?,
        apply: (PreparedEvents) -> Bool
    ) throws {
        let channel = Channel()
        DispatchQueue.global(qos: .userInitiated).async {
            while !channel.stopped {
                let item: Channel.Item
                do {
                    guard let block = try next() else {
                        channel.put(.end)
                        return
                    }
                    item = .batch(try PreparedEvents.prepare(block))
                } catch {
                    channel.put(.failed(error))
                    return
                }
                channel.put(item)
            }
            channel.put(.end)
        }
        var keepGoing = true
        while true {
            switch channel.take() {
            case .batch(let batch):
                // After a stop, the rest is drained so the helper is never left blocked.
                if keepGoing, !apply(batch) {
                    keepGoing = false
                    channel.stop()
                }
            case .end:
                return
            case .failed(let error):
                throw error
            }
        }
    }

    /// A bounded queue between the helper thread and the caller.
    final class Channel: Sendable {
        enum Item: Sendable {
            case batch(PreparedEvents)
            case end
            case failed(any Error)
        }

        let items = Mutex<[Item]>([])
        let free = DispatchSemaphore(value: RebuildPipeline.depth)
        let filled = DispatchSemaphore(value: 0)
        let stopFlag = Atomic<Bool>(false)

        var stopped: Bool { stopFlag.load(ordering: .relaxed) }
        func stop() { stopFlag.store(true, ordering: .relaxed) }

        func put(_ item: Item) {
            free.wait()
            items.withLock { $0.append(item) }
            filled.signal()
        }

        func take() -> Item {
            filled.wait()
            let item = items.withLock { $0.removeFirst() }
            free.signal()
            return item
        }
    }
}

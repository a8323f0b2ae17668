public import NIOCore

/// A `TaskExecutor` that runs a task's jobs on one NIO event loop.
///
/// On the node, a client connection's task prefers the executor of its own channel's event loop, so the
/// request path stays on one thread: the line arrives on the loop, the task parses it there, the
/// store's writer thread resumes the task back onto the loop, and the answer is written without a
/// hop. On the cooperative pool instead, each request crossed threads four times (loop → pool →
/// writer → pool → loop), and with 50 clients those wake-ups, not the disk, were the limit.
///
/// The client side (`IncidentConnection`) does the same, so a load generator's connections do not
/// pay those hops either.
///
/// Only short work may run here: whatever runs on the loop delays every other connection on it.
/// `RequestHandler` moves the heavy requests (queries, bundles, long lines) to the global
/// concurrent executor with `withTaskExecutorPreference`.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

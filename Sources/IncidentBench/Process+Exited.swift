public import Foundation

extension Process {
    /// Waits for the process to exit, without holding a thread: `waitUntilExit` runs a run loop
    /// on the caller's thread until then. Swift's tasks share a pool of one thread per core with
    /// `DispatchQueue.global()` and `concurrentPerform`, so a task that blocks in
    /// `waitUntilExit` while a node shuts down stalls, on a 2-core machine, half of everything
    /// else the process runs (a test process, a benchmark's load, its own nodes' connections).
    /// Returns the exit status.
    @discardableResult
    public func exited() async -> Int32 {
        while isRunning {
            // Not cancellable: a cancelled caller still waits for the process it started to end.
            try? await Task.sleep(for: .milliseconds(5))
        }
        return terminationStatus
    }
}

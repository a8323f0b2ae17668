import Dispatch

/// Pings the watchdog from a timer while the daemon starts (recovery of a large log can take
/// longer than `WatchdogSec`, and the service manager's watchdog runs from the moment the
/// process starts). Cancel it once the real, probe-checked pings take over; `TimeoutStartSec`
/// still bounds a start that never finishes.
public final class StartupWatchdog {
    let timer: (any DispatchSourceTimer)?

    /// Starts pinging at half the watchdog timeout; does nothing when the watchdog is off.
    public init(notifier: SystemdNotifier = SystemdNotifier()) {
        guard let timeout = notifier.watchdogTimeout else {
            timer = nil
            return
        }
        let (seconds, attoseconds) = (timeout / 2).components
        let interval = DispatchTimeInterval.microseconds(Int(clamping: seconds * 1_000_000 + attoseconds / 1_000_000_000_000))  // timeout came from microseconds
        let t = DispatchSource.makeTimerSource(queue: DispatchQueue.global())
        t.schedule(deadline: .now(), repeating: interval)
        t.setEventHandler { notifier.watchdog() }
        t.resume()
        timer = t
    }

    public func cancel() {
        timer?.cancel()
    }

    deinit {
        timer?.cancel()
    }
}

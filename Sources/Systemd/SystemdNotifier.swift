import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// Tells the service manager about the daemon's state with `sd_notify(3)`: a datagram of
/// `KEY=VALUE` lines on `$NOTIFY_SOCKET`. Without `NOTIFY_SOCKET` (not run by systemd) every call
/// is a cheap no-op, so callers need not check.
///
/// The environment is never unset (`unset_environment = 0`): the watchdog and later
/// notifications read it again.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// True when a service manager listens (`NOTIFY_SOCKET` is set).
    public var isActive: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// Sends `state` (one or more `KEY=VALUE` lines); true when a datagram was sent.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    /// `READY=1`, with the status line when given.
    @discardableResult
    public func ready(status: String? = nil) -> Bool {
        notify("READY=1" + (status.map { "\nSTATUS=" + Self.oneLine($0) } ?? ""))
    }

    /// `STATUS=…`: one line for `systemctl status`.
    @discardableResult
    public func status(_ text: String) -> Bool {
        notify("STATUS=" + Self.oneLine(text))
    }

    /// `RELOADING=1` with `MONOTONIC_USEC` (CLOCK_MONOTONIC, as systemd requires for
    /// Type=notify-reload; Swift's ContinuousClock is CLOCK_BOOTTIME on Linux). Follow it with
    /// `ready()` once the reload is done.
    @discardableResult
    public func reloading() -> Bool {
        notify("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())")
    }

    /// `STOPPING=1`: graceful shutdown has begun.
    @discardableResult
    public func stopping() -> Bool {
        notify("STOPPING=1")
    }

    /// `WATCHDOG=1`: the daemon is alive. Send only after checking that it is.
    @discardableResult
    public func watchdog() -> Bool {
        notify("WATCHDOG=1")
    }

    /// The watchdog timeout the service manager expects (`WatchdogSec=`, passed as
    /// `WATCHDOG_USEC`), or nil when the watchdog is off. Ping at half of it.
    public var watchdogTimeout: Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(clamping: usec))
    }

    /// Microseconds of CLOCK_MONOTONIC.
    public static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }

    /// A status must be one line: newlines would start new `KEY=VALUE` assignments.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}

public import Logging
import Synchronization

/// The node's log level, read by every handler on every message, so that a reload (SIGHUP)
/// changes it for the loggers already handed out.
public final class SharedLogLevel: Sendable {
    let raw: Atomic<Int>

    public init(_ level: Logger.Level) {
        raw = Atomic(Self.levels.firstIndex(of: level) ?? 2)
    }

    public var level: Logger.Level {
        get { Self.levels[raw.load(ordering: .relaxed)] }
        set { raw.store(Self.levels.firstIndex(of: newValue) ?? 2, ordering: .relaxed) }
    }

    static let levels = Logger.Level.allCases
}

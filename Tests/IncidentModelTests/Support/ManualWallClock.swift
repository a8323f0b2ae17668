import Synchronization

/// A wall clock a test sets by hand, for `HybridLogicalClock(wallClock:)`.
final class ManualWallClock: Sendable {
    private let millis: Mutex<UInt64>

    init(_ millis: UInt64) {
        self.millis = Mutex(millis)
    }

    func set(_ value: UInt64) {
        millis.withLock { $0 = value }
    }

    var read: @Sendable () -> UInt64 {
        { [self] in millis.withLock { $0 } }
    }
}

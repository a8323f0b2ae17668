import Dispatch

extension Duration {
    /// The same span for Dispatch's deadlines, in whole microseconds (ample for timers and
    /// probe timeouts; no overflow for spans up to centuries).
    var dispatchInterval: DispatchTimeInterval {
        let (seconds, attoseconds) = components
        return .microseconds(Int(clamping: seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
    }
}

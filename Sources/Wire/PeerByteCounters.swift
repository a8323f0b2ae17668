import Synchronization

/// Bytes one peer connection carried each way: raw (the lines as the protocol sees them) and on
/// the wire (after compression). The link's handlers count; the session reads them for `status`.
public final class PeerByteCounters: Sendable {
    let rawOut = Atomic<UInt64>(0)
    let wireOut = Atomic<UInt64>(0)
    let rawIn = Atomic<UInt64>(0)
    let wireIn = Atomic<UInt64>(0)

    public init() {}

    public var rawSent: UInt64 { rawOut.load(ordering: .relaxed) }
    public var wireSent: UInt64 { wireOut.load(ordering: .relaxed) }
    public var rawReceived: UInt64 { rawIn.load(ordering: .relaxed) }
    public var wireReceived: UInt64 { wireIn.load(ordering: .relaxed) }

    public func sent(raw: Int, wire: Int) {
        rawOut.add(UInt64(raw), ordering: .relaxed)
        wireOut.add(UInt64(wire), ordering: .relaxed)
    }

    public func received(raw: Int, wire: Int) {
        rawIn.add(UInt64(raw), ordering: .relaxed)
        wireIn.add(UInt64(wire), ordering: .relaxed)
    }
}

import NIOCore
import NIOEmbedded
import Testing

@testable import Sync

/// The peer listener's connection limits: at a limit the oldest connection whose peer has not
/// proved its key makes room; proven sessions never do.
@Suite struct PeerConnectionCounterTests {
    @Test func theOldestUnprovenConnectionMakesRoomAndProvenOnesNever() {
        var limits = PeerConnectionLimits()
        limits.total = 64
        limits.perAddress = 3
        let counter = PeerConnectionCounter()
        let channels = (0..<5).map { _ in EmbeddedChannel() }
        let a = counter.admit("10.0.0.1", channel: channels[0], limits: limits)
        let b = counter.admit("10.0.0.1", channel: channels[1], limits: limits)
        let c = counter.admit("10.0.0.1", channel: channels[2], limits: limits)
        #expect(a.evicted == nil && b.evicted == nil && c.evicted == nil)
        counter.prove(a.id!)  // the oldest is a proven session
        let d = counter.admit("10.0.0.1", channel: channels[3], limits: limits)
        #expect(d.id != nil)
        #expect(d.evicted === channels[1], "the oldest unproven one, not the proven session")
        // Another address is not pushed out by this address's limit.
        let other = counter.admit("10.0.0.2", channel: channels[4], limits: limits)
        #expect(other.id != nil && other.evicted == nil)
        // All slots of the address proven: the newcomer is refused.
        counter.prove(c.id!)
        counter.prove(d.id!)
        let e = counter.admit("10.0.0.1", channel: EmbeddedChannel(), limits: limits)
        #expect(e.id == nil && e.evicted == nil)
        for ch in channels { _ = try? ch.finish() }
    }
}

import IncidentModel
import Testing
import Wire

@testable import Sync

extension PeerSessionTests {
    /// A peer that pings faster than `pingsPerSecond` (beyond the burst) is cut off with
    /// `rate_limited`; one that pings at the keep-alive pace never is.
    @Test func pingFloodIsCutOffAsRateLimited() {
        let clock = TestClock()
        var (sa, _) = handshake(clock: clock)
        let ping = Array(PeerMessage.ping.encoded.dropLast())
        for _ in 0..<20 { #expect(sends(sa.receive(ping)) == [Array(PeerMessage.pong.encoded.dropLast())]) }
        let flooded = sa.receive(ping)
        #expect(closeCode(flooded) == "rate_limited")
        #expect(sa.state == .closed)

        var (calm, _) = handshake(clock: clock)
        for _ in 0..<200 {
            clock.advance(by: .milliseconds(150))
            #expect(closeCode(calm.receive(ping)) == nil)
        }
    }
}

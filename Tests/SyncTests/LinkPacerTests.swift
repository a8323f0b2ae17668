import Testing

@testable import Sync

/// Message sizing and the in-flight bound, driven with made-up instants.
@Suite struct LinkPacerTests {
    let t0 = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { t0 + .milliseconds(Int64(seconds * 1000)) }

    /// A link of `rate` bytes a second and `rtt` seconds: messages sent back to back while the
    /// pacer allows, each acknowledged when the link has carried it. Returns the pacer after `seconds`.
    func drive(rate: Double, rtt: Double, seconds: Double, ackEvery bunch: Double? = nil) -> (LinkPacer, maxInFlightSeconds: Double) {
        var pacer = LinkPacer()
        var now = 0.0
        var linkFree = 0.0
        var acks: [Double] = []  // instants, in order
        var worstQueue = 0.0
        while now < seconds {
            while pacer.canSend {
                let bytes = pacer.messageBytes
                pacer.sent(bytes: bytes, at: at(now))
                linkFree = max(linkFree, now) + Double(bytes) / rate
                // Acks held back and let through together every `bunch` seconds, when given.
                let ack = linkFree + rtt
                acks.append(bunch.map { (ack / $0).rounded(.up) * $0 } ?? ack)
                worstQueue = max(worstQueue, linkFree - now)
            }
            now = acks.removeFirst()
            pacer.acknowledged(at: at(now))
        }
        return (pacer, worstQueue)
    }

    @Test func aSlowLinkGetsMessagesOfAboutHalfASecondAndAShortQueue() {
        // 32 kB/s of raw bytes (64 kbit/s compressed about 4:1), 600 ms round trip.
        let (pacer, queue) = drive(rate: 32_000, rtt: 0.6, seconds: 120)
        #expect(pacer.messageBytes >= 10_000 && pacer.messageBytes <= 24_000, "\(pacer.messageBytes)")
        #expect(pacer.bytesPerSecond > 25_000 && pacer.bytesPerSecond < 40_000, "\(pacer.bytesPerSecond)")
        // What waits ahead of a fresh event on the link: a few seconds at most.
        #expect(queue < 3, "\(queue) s queued")
    }

    /// Acks that arrive in bunches (held up behind the other direction's traffic, or by a relay)
    /// come a few microseconds apart: measured ack to ack, they made the estimate soar, and the
    /// sender put the whole backlog in flight in 1 MiB messages that a cut then lost.
    @Test func bunchedAcksDoNotInflateTheEstimate() {
        let (pacer, queue) = drive(rate: 32_000, rtt: 0.6, seconds: 120, ackEvery: 2)
        #expect(pacer.bytesPerSecond < 64_000, "\(pacer.bytesPerSecond)")
        #expect(pacer.messageBytes <= 32_000, "\(pacer.messageBytes)")
        // Acks 2 s late make every round trip up to 2.6 s, so a few seconds queue; measured ack
        // to ack, the queue grew to minutes.
        #expect(queue < 10, "\(queue) s queued")
    }

    @Test func aFastLinkGrowsToTheLargestMessagesAndTheFullWindow() {
        let (pacer, _) = drive(rate: 500_000_000, rtt: 0.0002, seconds: 2)
        #expect(pacer.messageBytes == 1 << 20)
        var p = pacer
        while p.inFlightMessages > 0 { p.acknowledged(at: at(2.01)) }
        for i in 0..<8 {
            #expect(p.canSend, "message \(i)")
            p.sent(bytes: p.messageBytes, at: at(3))
        }
        #expect(!p.canSend, "at most 8 messages in flight")
    }

    @Test func aSlowAckHalvesTheMessage() {
        var pacer = LinkPacer()
        pacer.sent(bytes: pacer.messageBytes, at: at(0))
        pacer.acknowledged(at: at(0.01))
        let grown = pacer.messageBytes
        #expect(grown > LinkPacer.Configuration().initialBytes)
        pacer.sent(bytes: grown, at: at(1))
        pacer.acknowledged(at: at(6))  // 5 s: the link stalled
        #expect(pacer.messageBytes == grown / 2)
    }

    /// Compression only where it pays: from the second ack on a field link; never on loopback,
    /// where a node that fsyncs each message acknowledges the first small ones at a few MB/s.
    @Test func compressionIsWantedOnASlowLinkOnly() {
        var field = LinkPacer()
        field.sent(bytes: field.messageBytes, at: at(0))
        field.sent(bytes: field.messageBytes, at: at(0))
        #expect(!field.wantsCompression)
        field.acknowledged(at: at(1.6))
        #expect(!field.wantsCompression, "one round trip could be a stall")
        field.acknowledged(at: at(2.6))
        #expect(field.wantsCompression, "round trips of 1.6 s and 2.6 s")

        var loopback = LinkPacer()
        var now = 0.0
        for _ in 0..<40 {
            while loopback.canSend { loopback.sent(bytes: loopback.messageBytes, at: at(now)) }
            // Each message stored and fsynced in about 3 ms, plus 1 ms per 256 KiB of parsing.
            now += 0.003 + Double(loopback.messageBytes) / 262_144 * 0.001
            loopback.acknowledged(at: at(now))
            #expect(!loopback.wantsCompression, "after \(loopback.acks) acks at \(loopback.bytesPerSecond) B/s")
        }
    }

    @Test func aNewSessionStartsSmall() {
        let pacer = LinkPacer()
        #expect(pacer.messageBytes == 8 << 10)
        #expect(pacer.canSend)
    }
}

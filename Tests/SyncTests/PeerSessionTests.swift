import IncidentModel
import Testing
import Wire

@testable import Sync

/// The peer protocol's state machine, driven by hand: no sockets, a test clock.
@Suite struct PeerSessionTests {
    let a = NodeIdentity(privateKey: .init())
    let b = NodeIdentity(privateKey: .init())

    func trust(_ pairs: [(String, NodeIdentity)]) -> TrustList {
        var t = TrustList()
        for (n, i) in pairs { t.insert(node: n, key: i.publicKey) }
        return t
    }

    func sends(_ actions: [PeerSession<TestClock>.Action]) -> [[UInt8]] {
        actions.compactMap { if case .send(let l) = $0 { return Array(l.dropLast()) } else { return nil } }
    }

    func closeCode(_ actions: [PeerSession<TestClock>.Action]) -> String? {
        for a in actions { if case .close(let code, _) = a { return code ?? "peer" } }
        return nil
    }

    /// Two sessions wired back to back complete the handshake and learn each other's vectors.
    func handshake(clock: TestClock) -> (PeerSession<TestClock>, PeerSession<TestClock>) {
        var sa = PeerSession(nodeID: "a", identity: a, trust: trust([("a", a), ("b", b)]), clock: clock)
        var sb = PeerSession(nodeID: "b", identity: b, trust: trust([("a", a), ("b", b)]), clock: clock)
        let helloA = sends(sa.start(vector: VersionVector(["a": 3])))[0]
        let helloB = sends(sb.start(vector: VersionVector(["b": 7])))[0]
        let proofB = sends(sb.receive(helloA))[0]
        let proofA = sends(sa.receive(helloB))[0]
        #expect(sa.receive(proofB) == [.established(peer: "b", vector: VersionVector(["b": 7]))])
        #expect(sb.receive(proofA) == [.established(peer: "a", vector: VersionVector(["a": 3]))])
        return (sa, sb)
    }

    @Test func mutualProofEstablishesTheSession() {
        let (sa, sb) = handshake(clock: TestClock())
        #expect(sa.state == .established && sb.state == .established)
    }

    @Test func reloadedTrustListWithoutThePeerEndsTheSession() {
        var (sa, _) = handshake(clock: TestClock())
        #expect(sa.updateTrust(trust([("a", a), ("b", b)])).isEmpty)  // unchanged: goes on
        #expect(sa.state == .established)
        let actions = sa.updateTrust(trust([("a", a)]))
        #expect(closeCode(actions) == "untrusted_peer")
        #expect(sends(actions).first.map { String(decoding: $0, as: UTF8.self).contains("untrusted_peer") } == true)
        #expect(sa.state == .closed)
    }

    @Test func reloadedTrustListWithAnotherKeyForThePeerEndsTheSession() {
        var (_, sb) = handshake(clock: TestClock())
        let other = NodeIdentity(privateKey: .init())
        #expect(closeCode(sb.updateTrust(trust([("a", other), ("b", b)]))) == "untrusted_peer")
        #expect(sb.state == .closed)
    }

    @Test func peerNotInTheTrustListIsRefused() {
        let clock = TestClock()
        var sa = PeerSession(nodeID: "a", identity: a, trust: trust([("a", a)]), clock: clock)
        var sb = PeerSession(nodeID: "b", identity: b, trust: trust([("a", a), ("b", b)]), clock: clock)
        _ = sa.start(vector: VersionVector())
        let helloB = sends(sb.start(vector: VersionVector()))[0]
        let actions = sa.receive(helloB)
        #expect(closeCode(actions) == "untrusted_peer")
        #expect(sa.state == .closed)
    }

    @Test func peerPresentingAnotherKeyIsRefused() {
        let clock = TestClock()
        let impostor = NodeIdentity(privateKey: .init())
        var sa = PeerSession(nodeID: "a", identity: a, trust: trust([("a", a), ("b", b)]), clock: clock)
        var fake = PeerSession(nodeID: "b", identity: impostor, trust: trust([("a", a)]), clock: clock)
        _ = sa.start(vector: VersionVector())
        let hello = sends(fake.start(vector: VersionVector()))[0]
        #expect(closeCode(sa.receive(hello)) == "untrusted_peer")
    }

    /// A peer that replays b's hello (so its key matches) but cannot sign fails at the proof.
    @Test func proofWithoutTheKeyIsRefused() {
        let clock = TestClock()
        var sa = PeerSession(nodeID: "a", identity: a, trust: trust([("a", a), ("b", b)]), clock: clock)
        var sb = PeerSession(nodeID: "b", identity: b, trust: trust([("a", a), ("b", b)]), clock: clock)
        _ = sa.start(vector: VersionVector())
        let helloB = sends(sb.start(vector: VersionVector()))[0]
        _ = sa.receive(helloB)
        let forged = PeerMessage.proof(signature: [UInt8](repeating: 7, count: 64)).encoded.dropLast()
        #expect(closeCode(sa.receive(Array(forged))) == "untrusted_peer")
    }

    @Test func unknownProtocolVersionIsRefused() {
        var sa = PeerSession(nodeID: "a", identity: a, trust: trust([("a", a), ("b", b)]), clock: TestClock())
        _ = sa.start(vector: VersionVector())
        let hello = PeerMessage.hello(.init(version: 99, node: "b", publicKey: b.publicKeyBase64, nonce: Array(repeating: 1, count: 32), vector: VersionVector()))
        #expect(closeCode(sa.receive(Array(hello.encoded.dropLast()))) == "unsupported_version")
    }

    @Test func handshakeTimesOut() {
        let clock = TestClock()
        var sa = PeerSession(nodeID: "a", identity: a, trust: trust([("a", a)]), clock: clock)
        _ = sa.start(vector: VersionVector())
        clock.advance(by: .seconds(9))
        #expect(closeCode(sa.tick()) == nil)
        clock.advance(by: .seconds(1))
        #expect(closeCode(sa.tick()) == "handshake_timeout")
    }

    @Test func idleLinkIsPingedThenTimedOut() {
        let clock = TestClock()
        var (sa, _) = handshake(clock: clock)
        clock.advance(by: .seconds(4))
        #expect(sa.tick().isEmpty)
        clock.advance(by: .seconds(1))
        #expect(sends(sa.tick()) == [Array(PeerMessage.ping.encoded.dropLast())])
        // Pings go out every interval, but with nothing received the link is dropped at 30 s.
        clock.advance(by: .seconds(24))
        #expect(closeCode(sa.tick()) == nil)
        clock.advance(by: .seconds(1))
        #expect(closeCode(sa.tick()) == "idle_timeout")
    }

    @Test func receivingKeepsTheLinkAliveAndPingIsAnswered() {
        let clock = TestClock()
        var (sa, _) = handshake(clock: clock)
        clock.advance(by: .seconds(25))
        #expect(sends(sa.receive(Array(PeerMessage.ping.encoded.dropLast()))) == [Array(PeerMessage.pong.encoded.dropLast())])
        clock.advance(by: .seconds(25))
        #expect(closeCode(sa.tick()) == nil)
    }

    /// The send window bounds unacknowledged `events` messages; acks free it.
    @Test func sendWindowIsBoundedAndFreedByAcks() {
        var (sa, _) = handshake(clock: TestClock())
        for _ in 0..<8 {
            #expect(sa.canSendEvents)
            _ = sa.sendEvents([])
        }
        #expect(!sa.canSendEvents)
        _ = sa.receive(Array(PeerMessage.ack(VersionVector(["a": 1])).encoded.dropLast()))
        #expect(sa.canSendEvents)
    }

    @Test func garbageEndsTheSessionWithInvalidMessage() {
        var (sa, _) = handshake(clock: TestClock())
        #expect(closeCode(sa.receive(Array("\u{1}\u{2} not json".utf8))) == "invalid_message")
    }

    @Test func peerErrorClosesWithoutAnswering() {
        var (sa, _) = handshake(clock: TestClock())
        let actions = sa.receive(Array(PeerMessage.error(code: "x", message: "bye").encoded.dropLast()))
        #expect(sends(actions).isEmpty)
        #expect(closeCode(actions) == "peer")
    }
}

/// A long message on a slow link: bytes keep arriving, no whole line for longer than the idle
/// timeout. The session must live; silence must still end it.
@Suite struct PeerSessionSlowLinkTests {
    @Test func bytesArrivingWithoutAWholeLineKeepTheSessionAlive() {
        let a = NodeIdentity(privateKey: .init())
        let b = NodeIdentity(privateKey: .init())
        var trust = TrustList()
        trust.insert(node: "a", key: a.publicKey)
        trust.insert(node: "b", key: b.publicKey)
        let clock = TestClock()
        var sa = PeerSession(nodeID: "a", identity: a, trust: trust, clock: clock)
        var sb = PeerSession(nodeID: "b", identity: b, trust: trust, clock: clock)
        func line(_ actions: [PeerSession<TestClock>.Action]) -> [UInt8] {
            for action in actions { if case .send(let l) = action { return Array(l.dropLast()) } }
            return []
        }
        let helloA = line(sa.start(vector: VersionVector()))
        let helloB = line(sb.start(vector: VersionVector()))
        let proofB = line(sb.receive(helloA))
        let proofA = line(sa.receive(helloB))
        _ = sa.receive(proofB)
        _ = sb.receive(proofA)
        #expect(sa.state == .established)
        let idle = PeerSession<TestClock>.Configuration().idleTimeout
        // Twice the idle timeout, bytes arriving every second, no whole line.
        for _ in 0..<(2 * Int(idle.components.seconds)) {
            clock.advance(by: .seconds(1))
            sa.bytesArrived()
            _ = sa.tick()
        }
        #expect(sa.state == .established)
        // Then silence: the idle timeout ends it.
        clock.advance(by: idle)
        let actions = sa.tick()
        #expect(sa.state == .closed)
        #expect(actions.contains { if case .close(let code, _) = $0 { return code == "idle_timeout" } else { return false } })
    }
}

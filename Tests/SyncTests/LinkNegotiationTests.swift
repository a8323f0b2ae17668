import IncidentModel
import Testing
import Wire

@testable import Sync

/// Version 2 of the peer protocol is offered in hello beside version 1, so a node of the first
/// version still syncs with a new one, uncompressed and without the fresh lane.
@Suite struct LinkNegotiationTests {
    let a = NodeIdentity(privateKey: .init())
    let b = NodeIdentity(privateKey: .init())

    func trust() -> TrustList {
        var t = TrustList()
        t.insert(node: "a", key: a.publicKey)
        t.insert(node: "b", key: b.publicKey)
        return t
    }

    func lines(_ actions: [PeerSession<TestClock>.Action]) -> [String] {
        actions.compactMap { if case .send(let l) = $0 { return String(decoding: l.dropLast(), as: UTF8.self) } else { return nil } }
    }

    /// A hello as a version-1 node writes it: `version` 1, no `max_version`, no `compress`.
    func versionOneHello(_ node: String, _ identity: NodeIdentity) -> [UInt8] {
        Array(
            "{\"type\":\"hello\",\"version\":1,\"node\":\"\(node)\",\"public_key\":\"\(identity.publicKeyBase64)\",\"nonce\":\"\(Base64.encode(Array(repeating: 9, count: 32)))\",\"vector\":{}}"
                .utf8)
    }

    @Test func newNodesNegotiateVersionTwoAndCompression() throws {
        let clock = TestClock()
        var sa = PeerSession(nodeID: "a", identity: a, trust: trust(), clock: clock)
        var sb = PeerSession(nodeID: "b", identity: b, trust: trust(), clock: clock)
        let helloA = lines(sa.start(vector: VersionVector()))[0]
        #expect(helloA.hasPrefix("{\"type\":\"hello\",\"version\":1,"), "version 1 nodes refuse any other version")
        #expect(helloA.hasSuffix(",\"max_version\":2,\"compress\":[\"deflate\"]}"))
        let helloB = lines(sb.start(vector: VersionVector()))[0]
        var fromB = lines(sb.receive(Array(helloA.utf8)))
        #expect(fromB.count == 1, "a proof; compression starts when the link is found slow")
        #expect(sb.version == 2 && sb.agreedCompression == "deflate" && sb.sendCompression == nil)
        fromB += lines(sb.startCompressing())
        #expect(fromB[1] == "{\"type\":\"compress\",\"algorithm\":\"deflate\"}")
        #expect(sb.sendCompression == "deflate")
        #expect(sb.startCompressing().isEmpty, "once per session")
        let fromA = lines(sa.receive(Array(helloB.utf8)))
        #expect(sa.receive(Array(fromB[0].utf8)) == [.established(peer: "b", vector: VersionVector())])
        #expect(sa.receive(Array(fromB[1].utf8)).isEmpty)
        #expect(sa.receiveCompressed)
        _ = sb.receive(Array(fromA[0].utf8))
        // The fresh lane is open at version 2.
        #expect(lines(sb.sendEvents([Array("{}".utf8)], fresh: true)) == ["{\"type\":\"fresh\",\"events\":[{}]}"])
    }

    @Test func aVersionOneHelloGetsVersionOneWithoutCompression() {
        var sa = PeerSession(nodeID: "a", identity: a, trust: trust(), clock: TestClock())
        _ = sa.start(vector: VersionVector())
        let answer = lines(sa.receive(versionOneHello("b", b)))
        #expect(answer.count == 1, "a proof, and no compress marker: \(answer)")
        #expect(answer[0].hasPrefix("{\"type\":\"proof\""))
        #expect(sa.version == 1 && sa.agreedCompression == nil)
        #expect(sa.startCompressing().isEmpty)
        // Established at version 1: backlog and fresh events alike go as plain `events`.
        var established = sa
        established.forceEstablished()
        #expect(lines(established.sendEvents([Array("{}".utf8)], fresh: true)) == ["{\"type\":\"events\",\"events\":[{}]}"])
    }

    @Test func aVersionOneSessionRefusesFreshAndCompress() {
        var sa = PeerSession(nodeID: "a", identity: a, trust: trust(), clock: TestClock())
        _ = sa.start(vector: VersionVector())
        _ = sa.receive(versionOneHello("b", b))
        sa.forceEstablished()
        let actions = sa.receive(Array("{\"type\":\"compress\",\"algorithm\":\"deflate\"}".utf8))
        #expect(actions.contains { if case .close(let code, _) = $0 { return code == "unexpected_message" } else { return false } })
    }

    @Test func aNodeWithCompressionOffAnswersWithoutTheMarker() {
        var configuration = PeerSession<TestClock>.Configuration()
        configuration.compression = []
        var sa = PeerSession(nodeID: "a", identity: a, trust: trust(), configuration: configuration, clock: TestClock())
        var sb = PeerSession(nodeID: "b", identity: b, trust: trust(), clock: TestClock())
        let helloA = lines(sa.start(vector: VersionVector()))[0]
        #expect(!helloA.contains("compress"))
        _ = sb.start(vector: VersionVector())
        #expect(lines(sb.receive(Array(helloA.utf8))).count == 1)
        #expect(sb.version == 2 && sb.agreedCompression == nil)
        #expect(sb.startCompressing().isEmpty)
    }

    @Test func helloMaxVersionBelowVersionIsInvalid() {
        var sa = PeerSession(nodeID: "a", identity: a, trust: trust(), clock: TestClock())
        _ = sa.start(vector: VersionVector())
        let hello = Array(
            "{\"type\":\"hello\",\"version\":3,\"node\":\"b\",\"public_key\":\"\(b.publicKeyBase64)\",\"nonce\":\"\(Base64.encode(Array(repeating: 9, count: 32)))\",\"vector\":{},\"max_version\":4}"
                .utf8)
        let actions = sa.receive(hello)
        #expect(actions.contains { if case .close(let code, _) = $0 { return code == "unsupported_version" } else { return false } })
    }
}

extension PeerSession {
    /// For tests: skip the proof (the handshake is tested on its own).
    mutating func forceEstablished() { state = .established }
}

/// The handshake measures one round trip of the link before any data: a sender uses it to
/// compress a field link from its first message.
@Suite struct HandshakeRoundTripTests {
    @Test func theProofArrivesOneRoundTripAfterTheHello() {
        let a = NodeIdentity(privateKey: .init())
        let b = NodeIdentity(privateKey: .init())
        var t = TrustList()
        t.insert(node: "a", key: a.publicKey)
        t.insert(node: "b", key: b.publicKey)
        let clock = TestClock()
        var sa = PeerSession(nodeID: "a", identity: a, trust: t, clock: clock)
        var sb = PeerSession(nodeID: "b", identity: b, trust: t, clock: clock)
        func line(_ actions: [PeerSession<TestClock>.Action]) -> [UInt8] {
            for case .send(let l) in actions { return Array(l.dropLast()) }
            return []
        }
        let helloA = line(sa.start(vector: VersionVector()))
        let helloB = line(sb.start(vector: VersionVector()))
        clock.advance(by: .milliseconds(300))  // a's hello reaches b
        let proofB = line(sb.receive(helloA))
        _ = sa.receive(helloB)
        clock.advance(by: .milliseconds(300))  // b's proof reaches a
        _ = sa.receive(proofB)
        #expect(sa.state == .established)
        #expect(sa.handshakeRoundTrip == .milliseconds(600))
    }
}

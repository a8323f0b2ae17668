@preconcurrency import Crypto
public import IncidentModel
import Wire

/// The peer protocol of one connection as a pure state machine: inputs are lines received,
/// ticks of an injected clock and what the driver did; outputs are actions for the driver
/// (send a line, store events, close). No sockets, no tasks: tests drive it by hand.
///
/// States: awaitingHello → awaitingProof → established → closed.
/// - start: send our hello (version, node, key, fresh nonce, vector).
/// - hello received: check version (else `unsupported_version`), that the node is in the
///   trust list with this very key (else `untrusted_peer`); send our proof: Ed25519 over
///   SHA-256("incidentlog peer proof v1\n" ‖ hello we sent ‖ "\n" ‖ hello we received).
/// - proof received: verify it against the trusted key over the same transcript seen from the
///   other side (else `untrusted_peer`). Then established: the driver streams what the peer lacks.
/// - established: `events` → the driver checks and stores them, then `acknowledge` sends `ack`;
///   `ack` frees window; `ping` → `pong`; `error` → close; `refused` is logged.
/// - timeouts (tick): no hello+proof within `handshakeTimeout` → `handshake_timeout`; nothing
///   received for `idleTimeout` → `idle_timeout`; nothing sent for `pingInterval` → `ping`.
public struct PeerSession<C: Clock>: Sendable where C.Duration == Duration, C: Sendable {
    public enum State: Sendable, Equatable {
        case idle, awaitingHello, awaitingProof, established, closed
    }

    public enum Action: Sendable, Equatable {
        /// Write this line (newline included).
        case send([UInt8])
        /// The handshake completed: the peer's node id and the vector it announced.
        case established(peer: String, vector: VersionVector)
        /// Check and store these event lines, then call `acknowledge`.
        case ingest([[UInt8]])
        /// Version 2: events the peer sent ahead of its backlog; check them on their own (they
        /// may be beyond what this node holds of their origin), store or hold them, acknowledge.
        case ingestFresh([[UInt8]])
        /// The peer acknowledged an `events` message and holds this vector.
        case acknowledged(VersionVector)
        /// The peer refused one of our events (logged; the session goes on).
        case peerRefused(id: String, code: String, message: String)
        /// Close the connection; `code` is nil when the peer ended it with its own error.
        case close(code: String?, message: String)
    }

    public struct Configuration: Sendable {
        public var handshakeTimeout: Duration = .seconds(10)
        public var idleTimeout: Duration = .seconds(30)
        public var pingInterval: Duration = .seconds(5)
        /// `events` messages sent and not yet acknowledged, at most.
        public var window = 8
        /// Pings answered: a token bucket of this many a second, holding at most `pingBurst`; a
        /// peer that pings faster is cut off with `rate_limited` (a live peer pings every
        /// `pingInterval`).
        public var pingsPerSecond = 10
        public var pingBurst = 20
        /// The highest protocol version offered in hello (tests set 1 to play a version-1 node).
        public var maxVersion = PeerMessage.protocolVersion
        /// Link compressions offered in hello, in order of preference (empty: none).
        public var compression: [String] = [PeerMessage.deflate]
        public init() {}
    }

    public internal(set) var state: State = .idle
    public private(set) var peer: String? = nil
    public private(set) var peerVector = VersionVector()
    public private(set) var inFlight = 0
    /// The version both sides speak, once the peer's hello arrived: the lower of the two highest.
    public private(set) var version = PeerMessage.minimumVersion
    /// The compression both sides offered (the first of ours the peer's hello lists), if any.
    public private(set) var agreedCompression: String? = nil
    /// The compression this side writes with (nil: none yet): see `startCompressing`.
    public private(set) var sendCompression: String? = nil
    /// Whether the peer announced that it writes compressed (`compress` after its proof).
    public private(set) var receiveCompressed = false
    let identity: NodeIdentity
    let nodeID: String
    var trust: TrustList
    let configuration: Configuration
    let clock: C
    let started: C.Instant
    var lastReceived: C.Instant
    var lastSent: C.Instant
    var helloSent: [UInt8] = []
    var helloSentAt: C.Instant
    /// From sending our hello to receiving the peer's proof: one round trip of the link, measured
    /// before any data (the peer sends its proof as soon as our hello arrives).
    public private(set) var handshakeRoundTrip: Duration? = nil
    var helloReceived: [UInt8] = []
    var pingCredit: Double
    var pingCreditAt: C.Instant

    public init(nodeID: String, identity: NodeIdentity, trust: TrustList, configuration: Configuration = .init(), clock: C) {
        self.nodeID = nodeID
        self.identity = identity
        self.trust = trust
        self.configuration = configuration
        self.clock = clock
        self.started = clock.now
        self.helloSentAt = started
        self.lastReceived = started
        self.lastSent = started
        self.pingCredit = Double(configuration.pingBurst)
        self.pingCreditAt = started
    }

    /// Sends our hello. `nonce` is injected for tests; a fresh random one otherwise.
    public mutating func start(vector: VersionVector, nonce: [UInt8]? = nil) -> [Action] {
        guard state == .idle else { return [] }
        var rng = SystemRandomNumberGenerator()
        let nonce = nonce ?? (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let offered = configuration.maxVersion >= 2 ? configuration.compression : []
        let hello = PeerMessage.hello(
            .init(
                version: PeerMessage.minimumVersion, node: nodeID, publicKey: identity.publicKeyBase64, nonce: nonce, vector: vector,
                maxVersion: configuration.maxVersion, compression: offered))
        helloSent = hello.encoded
        helloSentAt = clock.now
        state = .awaitingHello
        return [send(helloSent)]
    }

    /// Bytes of the peer arrived, not yet a whole line. They count as life for the idle
    /// timeout: on a slow link one `events` message (up to 1 MiB) takes longer than the timeout
    /// to arrive whole, and cutting the session then would resend it from the start, forever.
    public mutating func bytesArrived() {
        guard state != .closed, state != .idle else { return }
        lastReceived = clock.now
    }

    /// Handles one received line.
    public mutating func receive(_ line: [UInt8]) -> [Action] {
        guard state != .closed, state != .idle else { return [] }
        lastReceived = clock.now
        let message: PeerMessage
        do {
            message = try PeerMessage.parse(line)
        } catch {
            return fail("invalid_message", error.reason)
        }
        if case .error(let code, let text) = message {
            state = .closed
            return [.close(code: nil, message: "peer error \(code): \(text)")]
        }
        switch state {
        case .awaitingHello:
            guard case .hello(let hello) = message else { return fail("unexpected_message", "expected hello") }
            guard hello.version <= configuration.maxVersion, hello.maxVersion >= PeerMessage.minimumVersion else {
                return fail(
                    "unsupported_version",
                    "this node speaks versions \(PeerMessage.minimumVersion)…\(configuration.maxVersion), not \(hello.version)…\(hello.maxVersion)")
            }
            guard hello.node != nodeID else { return fail("untrusted_peer", "the peer has this node's own id \(nodeID)") }
            guard let key = trust[hello.node] else {
                return fail("untrusted_peer", "node \(hello.node) is not in this node's trust list")
            }
            guard Base64.encode(Array(key.rawRepresentation)) == hello.publicKey else {
                return fail("untrusted_peer", "node \(hello.node) presented a key that differs from the trusted one")
            }
            peer = hello.node
            peerVector = hello.vector
            helloReceived = line + [UInt8(ascii: "\n")]
            let transcript = Self.transcript(sent: helloSent, received: helloReceived)
            guard let signature = try? identity.privateKey.signature(for: transcript) else {
                return fail("internal_error", "cannot sign the proof")
            }
            state = .awaitingProof
            version = min(configuration.maxVersion, hello.maxVersion)
            if version >= 2 { agreedCompression = configuration.compression.first(where: hello.compression.contains) }
            return [send(PeerMessage.proof(signature: Array(signature)).encoded)]
        case .awaitingProof:
            guard case .proof(let signature) = message, let peer, let key = trust[peer] else {
                return fail("unexpected_message", "expected proof")
            }
            // The peer signed (its hello ‖ our hello): from its side, sent and received swap.
            let transcript = Self.transcript(sent: helloReceived, received: helloSent)
            guard key.isValidSignature(signature, for: transcript) else {
                return fail("untrusted_peer", "the proof of key possession does not verify")
            }
            handshakeRoundTrip = helloSentAt.duration(to: clock.now)
            state = .established
            return [.established(peer: peer, vector: peerVector)]
        case .established:
            switch message {
            case .events(let lines): return [.ingest(lines)]
            case .fresh(let lines) where version >= 2: return [.ingestFresh(lines)]
            case .compress(let algorithm) where version >= 2 && !receiveCompressed && configuration.compression.contains(algorithm):
                receiveCompressed = true
                return []
            case .ack(let vector):
                inFlight = max(0, inFlight - 1)
                peerVector = vector
                return [.acknowledged(vector)]
            case .ping:
                guard takePingCredit() else {
                    return fail("rate_limited", "more than \(configuration.pingsPerSecond) pings a second")
                }
                return [send(PeerMessage.pong.encoded)]
            case .pong: return []
            case .refused(let id, let code, let text): return [.peerRefused(id: id, code: code, message: text)]
            default: return fail("unexpected_message", "unexpected message in an established session")
            }
        case .idle, .closed:
            return []
        }
    }

    /// Whether another `events` message may be sent now (bounded send window).
    public var canSendEvents: Bool { state == .established && inFlight < configuration.window }

    /// Starts compressing what this side writes, when both sides offered a compression: the
    /// `compress` line, after which the link handler deflates every byte. Once per session; the
    /// driver calls it when the link is slow enough for compression to pay (`LinkPacer`).
    public mutating func startCompressing() -> [Action] {
        guard state == .established || state == .awaitingProof, sendCompression == nil, let algorithm = agreedCompression else { return [] }
        sendCompression = algorithm
        return [send(PeerMessage.compress(algorithm: algorithm).encoded)]
    }

    /// Builds an `events` message (a `fresh` one ahead of the backlog, version 2) and counts it
    /// against the window.
    public mutating func sendEvents(_ lines: [[UInt8]], fresh: Bool = false) -> [Action] {
        guard state == .established else { return [] }
        inFlight += 1
        return [send((fresh && version >= 2 ? PeerMessage.fresh(lines) : PeerMessage.events(lines)).encoded)]
    }

    /// After the driver stored an `events` message: acknowledge with our vector.
    public mutating func acknowledge(vector: VersionVector) -> [Action] {
        guard state == .established else { return [] }
        return [send(PeerMessage.ack(vector).encoded)]
    }

    /// Tells the peer one of its events was refused (the session goes on).
    public mutating func refuse(id: String, code: String, message: String) -> [Action] {
        guard state == .established else { return [] }
        return [send(PeerMessage.refused(id: id, code: code, message: message).encoded)]
    }

    /// Ends the session with an error sent to the peer.
    public mutating func fail(_ code: String, _ message: String) -> [Action] {
        guard state != .closed else { return [] }
        state = .closed
        return [.send(PeerMessage.error(code: code, message: message).encoded), .close(code: code, message: message)]
    }

    /// The trust list was reloaded (SIGHUP). A peer that is no longer in it, or is in it with
    /// another key than the one it proved, is cut off with `untrusted_peer`: removing a node from
    /// the trust list must stop the sessions already open with it, not only the next ones.
    public mutating func updateTrust(_ newTrust: TrustList) -> [Action] {
        let proved = peer.flatMap { trust[$0] }
        trust = newTrust
        guard state == .established || state == .awaitingProof, let peer else { return [] }
        guard let key = newTrust[peer], let proved, key.rawRepresentation == proved.rawRepresentation else {
            return fail("untrusted_peer", "node \(peer) is no longer trusted with the key it proved (trust list reloaded)")
        }
        return []
    }

    /// Time passes: timeouts and keep-alive pings.
    public mutating func tick() -> [Action] {
        let now = clock.now
        switch state {
        case .awaitingHello, .awaitingProof:
            if started.duration(to: now) >= configuration.handshakeTimeout {
                return fail("handshake_timeout", "no hello and proof within \(configuration.handshakeTimeout)")
            }
        case .established:
            if lastReceived.duration(to: now) >= configuration.idleTimeout {
                return fail("idle_timeout", "nothing received for \(configuration.idleTimeout)")
            }
            if lastSent.duration(to: now) >= configuration.pingInterval {
                return [send(PeerMessage.ping.encoded)]
            }
        case .idle, .closed:
            break
        }
        return []
    }

    /// Takes one ping from the bucket; false when it is empty.
    mutating func takePingCredit() -> Bool {
        let now = clock.now
        let elapsed = pingCreditAt.duration(to: now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        pingCredit = min(Double(configuration.pingBurst), pingCredit + seconds * Double(configuration.pingsPerSecond))
        pingCreditAt = now
        guard pingCredit >= 1 else { return false }
        pingCredit -= 1
        return true
    }

    mutating func send(_ line: [UInt8]) -> Action {
        lastSent = clock.now
        return .send(line)
    }

    /// What a proof signs: SHA-256 of a domain string, the signer's hello and the hello it received.
    static func transcript(sent: [UInt8], received: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: Array("incidentlog peer proof v1\n".utf8))
        hasher.update(data: sent)
        hasher.update(data: [UInt8(ascii: "\n")])
        hasher.update(data: received)
        return Array(hasher.finalize())
    }
}

public import EventStore
public import IncidentModel
public import Logging
public import NIOCore
import Synchronization
import Wire

/// Everything a peer session needs from the node.
public struct PeerContext: Sendable {
    public var store: EventStore
    public var identity: NodeIdentity
    public var nodeID: String
    public var trust: @Sendable () -> TrustList
    public var registry: PeerRegistry
    public var logger: Logger
    public var session = PeerSession<ContinuousClock>.Configuration()
    /// Most events in one `events` message, and most bytes.
    public var messageEvents = 1024
    public var messageBytes = 1 << 20
    /// Mutual TLS on the peer listener and dialer (issue 6), in addition to the key proof; nil: plain TCP.
    public var tls: PeerTLS? = nil
    /// Inbound peer connections at most, in total and from one address (`too_many_connections`).
    public var inboundLimits = PeerConnectionLimits()

    public init(
        store: EventStore, identity: NodeIdentity, nodeID: String, trust: @escaping @Sendable () -> TrustList,
        registry: PeerRegistry, logger: Logger
    ) {
        self.store = store
        self.identity = identity
        self.nodeID = nodeID
        self.trust = trust
        self.registry = registry
        self.logger = logger
    }

    /// The longest line a peer may send: an `events` message of full-size events.
    public static let maximumLineLength = 16 << 20
}

/// Runs the peer protocol over one connection (either direction): drives a `PeerSession`,
/// streams what the peer lacks from the log (catch-up, then live), checks and stores what it
/// sends. Returns when the connection ends; returns whether the session was established.
public enum PeerLink {
    final class Shared: Sendable {
        struct State {
            var session: PeerSession<ContinuousClock>
            /// Per origin, the highest seq the peer is known to hold (contiguously).
            var peerHas = VersionVector()
            var established = false
            /// The registry entry of this session (known once the peer's node id is, for inbound).
            var key: String?
        }
        let state: Mutex<State>
        let wake: AsyncStream<Void>
        let wakeContinuation: AsyncStream<Void>.Continuation

        init(_ session: PeerSession<ContinuousClock>) {
            state = Mutex(State(session: session))
            (wake, wakeContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        }

        func with<R>(_ body: (inout State) -> R) -> R { state.withLock { body(&$0) } }
    }

    @discardableResult
    public static func run(
        channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>, context: PeerContext, registryKey: String?, direction: String
    ) async -> Bool {
        let store = context.store
        let logger = context.logger
        let session = PeerSession(
            nodeID: context.nodeID, identity: context.identity, trust: context.trust(), configuration: context.session,
            clock: ContinuousClock())
        let shared = Shared(session)
        shared.with { $0.key = registryKey }
        let remote = channel.channel.remoteAddress?.description ?? "?"
        let channelRef = channel.channel
        // Raw bytes arriving keep the session alive while a long message is still on its way.
        let arrivals = ByteArrivalCounter()
        do {
            try await channel.executeThenClose { inbound, outbound in
                try await channelRef.pipeline.addHandler(arrivals, position: .first).get()
                /// Carries out actions; false once the session is over.
                @Sendable func perform(_ actions: [PeerSession<ContinuousClock>.Action]) async throws -> Bool {
                    for action in actions {
                        switch action {
                        case .send(let line):
                            try await outbound.write(ByteBuffer(bytes: line))
                        case .established(let peer, let vector):
                            shared.with { $0.peerHas = vector; $0.established = true }
                            shared.wakeContinuation.yield()
                            logger.info("peer session established", metadata: ["sync.peer": "\(peer)", "sync.remote": "\(remote)"])
                        case .acknowledged(let vector):
                            shared.with { $0.peerHas = $0.peerHas.merged(with: vector) }
                            shared.wakeContinuation.yield()
                        case .peerRefused(let id, let code, let message):
                            logger.warning(
                                "peer refused an event", metadata: ["sync.remote": "\(remote)", "event.id": "\(id)", "sync.code": "\(code)", "sync.message": "\(message)"])
                        case .close(let code, let message):
                            logger.notice("peer session closed", metadata: ["sync.remote": "\(remote)", "sync.code": "\(code ?? "-")", "sync.reason": "\(message)"])
                            if let key = shared.with({ $0.key }) {
                                context.registry.update(key, direction: direction) { $0.lastError = message }
                            }
                            channelRef.close(promise: nil)
                            return false
                        case .ingest:
                            break  // handled by the reader
                        }
                    }
                    return true
                }

                guard try await perform(shared.with { $0.session.start(vector: store.versionVector) }) else { return }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {  // keep-alive, timeouts, and a trust list reloaded meanwhile
                        var bytesSeen: UInt64 = 0
                        while !Task.isCancelled {
                            try await Task.sleep(for: .milliseconds(250))
                            let trust = context.trust()
                            let bytes = arrivals.bytes
                            let arrived = bytes != bytesSeen
                            bytesSeen = bytes
                            guard
                                try await perform(
                                    shared.with { s in
                                        if arrived { s.session.bytesArrived() }
                                        return s.session.updateTrust(trust) + s.session.tick()
                                    })
                            else { return }
                        }
                    }
                    group.addTask {  // catch-up, then live
                        try await sendLoop(shared: shared, context: context, perform: perform, registryKey: { shared.with { $0.key } }, direction: direction)
                    }
                    var verifier = IngestVerifier(trust: context.trust())
                    // The store (and acknowledgement) of the previous `events` message, which runs
                    // while the next one is parsed and verified: the fsync overlaps the CPU work.
                    // At most one is in flight, so messages are stored and acknowledged in order.
                    var storing: Task<Bool, any Error>? = nil
                    defer { storing?.cancel() }
                    do {
                        reading: for try await buffer in inbound {
                            let actions = shared.with { $0.session.receive(Array(buffer.readableBytesView)) }
                            for action in actions {
                                if case .established(let peer, let vector) = action {
                                    let k = shared.with { s in
                                        if s.key == nil { s.key = "in:\(peer)" }
                                        return s.key!
                                    }
                                    context.registry.update(k, direction: direction) { e in
                                        e.node = peer
                                        e.connected = true
                                        e.sinceMillis = nowMillis()
                                        e.peerVector = vector
                                        e.lastError = nil
                                    }
                                }
                                let key = shared.with { $0.key }
                                if let k = key {
                                    context.registry.update(k, direction: direction) { $0.lastContactMillis = nowMillis() }
                                }
                                if case .ingest(let lines) = action {
                                    let checked = check(lines, verifier: &verifier, shared: shared, context: context)
                                    if let previous = storing {
                                        storing = nil
                                        guard try await previous.value else { break reading }
                                    }
                                    if checked.fatal == nil {
                                        storing = Task {
                                            try await storeChecked(checked, shared: shared, context: context, perform: perform, registryKey: key, direction: direction)
                                        }
                                    } else {
                                        guard try await storeChecked(checked, shared: shared, context: context, perform: perform, registryKey: key, direction: direction)
                                        else { break reading }
                                    }
                                } else if case .acknowledged(let vector) = action, let k = key {
                                    context.registry.update(k, direction: direction) { $0.peerVector = $0.peerVector.merged(with: vector) }
                                }
                            }
                            guard try await perform(actions) else { break }
                        }
                        if let previous = storing {
                            storing = nil
                            _ = try await previous.value
                        }
                    } catch let error as LineTooLongError {
                        // Answered like any protocol error, then closed (issue 6: a 100 MB line).
                        _ = try? await perform(shared.with { $0.session.fail("line_too_long", "a line is at most \(error.limit) bytes") })
                    }
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("peer connection ended", metadata: ["sync.remote": "\(remote)", "error": "\(error)"])
            // E.g. a TLS handshake the other side refused: `status` shows it.
            if let key = shared.with({ $0.key }) { context.registry.update(key, direction: direction) { $0.lastError = "\(error)" } }
        }
        if let key = shared.with({ $0.key }) { context.registry.update(key, direction: direction) { $0.connected = false } }
        return shared.with { $0.established }
    }

    /// Checks one `events` message: hashes, signatures, trust (`IngestVerifier`).
    static func check(_ lines: [[UInt8]], verifier: inout IngestVerifier, shared: Shared, context: PeerContext) -> IngestVerifier.Output {
        verifier.trust = context.trust()
        let checked = verifier.check(lines)
        // The peer holds what it sent, whatever this node makes of it. Recorded before storing:
        // the store wakes this session's sender as soon as the events are committed, and it
        // must not echo them back.
        shared.with { s in
            for e in checked.verified where e.seq > s.peerHas[e.origin] { s.peerHas[e.origin] = e.seq }
        }
        return checked
    }

    /// Stores what `check` let through, answers refusals, acknowledges. False ends the session.
    static func storeChecked(
        _ checked: IngestVerifier.Output, shared: Shared, context: PeerContext,
        perform: @Sendable ([PeerSession<ContinuousClock>.Action]) async throws -> Bool, registryKey: String?, direction: String
    ) async throws -> Bool {
        var refusals = checked.refused
        if !checked.verified.isEmpty {
            let outcomes: [IngestOutcome]
            do {
                outcomes = try await context.store.ingest(checked.verified)
            } catch {
                return try await perform(shared.with { $0.session.fail(error.code.rawValue, error.message) })
            }
            var stored: UInt64 = 0
            for (event, outcome) in zip(checked.verified, outcomes) {
                switch outcome {
                case .stored: stored += 1
                case .duplicate: break
                case .refused: refusals.append(IngestVerifier.Refusal(event: event, outcome: outcome))
                }
            }
            if let registryKey {
                let held = shared.with { $0.peerHas }
                context.registry.update(registryKey, direction: direction) { e in
                    e.eventsReceived += stored
                    e.peerVector = e.peerVector.merged(with: held)
                }
            }
        }
        for r in refusals.prefix(16) {
            context.logger.warning(
                "refused an event from a peer", metadata: ["event.id": "\(r.id)", "sync.code": "\(r.code)", "sync.message": "\(r.message)"])
            guard try await perform(shared.with { $0.session.refuse(id: r.id, code: r.code, message: r.message) }) else { return false }
        }
        if let fatal = checked.fatal {
            context.logger.error(
                "peer sent an event that fails verification; closing", metadata: ["event.id": "\(fatal.id)", "sync.code": "\(fatal.code)"])
            _ = try await perform(shared.with { $0.session.fail(fatal.code, "\(fatal.id): \(fatal.message)") })
            return false
        }
        return try await perform(shared.with { $0.session.acknowledge(vector: context.store.versionVector) })
    }

    /// Streams, in log order, every event the peer does not hold: from the earliest offset any
    /// origin needs, through the end of the log, then live as the store commits more.
    static func sendLoop(
        shared: Shared, context: PeerContext, perform: @Sendable ([PeerSession<ContinuousClock>.Action]) async throws -> Bool,
        registryKey: @Sendable () -> String?, direction: String
    ) async throws {
        var wake = shared.wake.makeAsyncIterator()
        while !shared.with({ $0.established }) {
            guard await wake.next() != nil else { return }
        }
        let store = context.store
        let peerHas = shared.with { $0.peerHas }
        let ours = store.versionVector
        var start = store.count
        for origin in ours.origins where ours[origin] > peerHas[origin] {
            if let offset = store.offset(origin: origin, seq: peerHas[origin] + 1) { start = min(start, offset) }
        }
        // Lines as stored, with only origin and seq read: the receiver parses and verifies them.
        for try await batch in store.subscribeLines(from: start, batchLimit: context.messageEvents) {
            let lines: [[UInt8]] = shared.with { s in
                var out: [[UInt8]] = []
                for e in batch where e.seq == s.peerHas[e.origin] + 1 {
                    out.append(e.line)
                    s.peerHas[e.origin] = e.seq
                }
                return out
            }
            var chunk: [[UInt8]] = []
            var chunkBytes = 0
            func flush() async throws -> Bool {
                guard !chunk.isEmpty else { return true }
                while !shared.with({ $0.session.canSendEvents }) {
                    if shared.with({ $0.session.state }) == .closed { return false }
                    guard await wake.next() != nil else { return false }
                }
                let n = UInt64(chunk.count)
                let actions = shared.with { $0.session.sendEvents(chunk) }
                chunk.removeAll(keepingCapacity: true)
                chunkBytes = 0
                if let key = registryKey() { context.registry.update(key, direction: direction) { $0.eventsSent += n } }
                return try await perform(actions)
            }
            for line in lines {
                if chunkBytes + line.count > context.messageBytes || chunk.count >= context.messageEvents {
                    guard try await flush() else { return }
                }
                chunk.append(line)
                chunkBytes += line.count
            }
            guard try await flush() else { return }
        }
    }
}

func nowMillis() -> Int64 { Int64(HybridLogicalClock.systemMillis()) }

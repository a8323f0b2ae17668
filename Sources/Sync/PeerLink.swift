public import EventStore
public import IncidentModel
public import Logging
public import NIOCore
import Synchronization
public import Wire

/// Everything a peer session needs from the node.
public struct PeerContext: Sendable {
    public var store: EventStore
    public var identity: NodeIdentity
    public var nodeID: String
    public var trust: @Sendable () -> TrustList
    public var registry: PeerRegistry
    public var logger: Logger
    public var session = PeerSession<ContinuousClock>.Configuration()
    /// Cores that check the lines of one received message at once (`IngestVerifier.check`):
    /// Ed25519 and SHA-256 of a catch-up would otherwise hold up the reader on one core while
    /// the store and the fold wait for it.
    public var verificationThreads = System.coreCount
    /// Most events in one `events` message; its bytes follow the link (`pacer`).
    public var messageEvents = 1024
    /// Message sizing and the bytes in flight, measured per session (`LinkPacer`).
    public var pacer = LinkPacer.Configuration()
    /// Most bytes a second this node writes to any one peer, on the wire (nil: no cap). A VSAT
    /// link is shared with voice and mail; the dialer can set it per peer address.
    public var maximumBytesPerSecond: Int? = nil
    /// Mutual TLS on the peer listener and dialer, in addition to the key proof; nil: plain TCP.
    public var tls: PeerTLS? = nil
    /// Inbound peer connections at most, in total and from one address (`too_many_connections`).
    public var inboundLimits = PeerConnectionLimits()
    /// Events received ahead of their origin's chain, held until it fills in (node-wide).
    public var held = HeldEvents()
    /// Per peer node, where its "fresh" events begin in this node's log (node-wide, across sessions).
    public var freshBoundaries = FreshBoundaries()
    /// Per peer node, whether its link was found slow (compression from the start of a session).
    public var slowLinks = SlowLinks()
    /// Told of every handshake: own events a damaged segment hides may turn out lost.
    public var lostEvents: LostEventWatch? = nil

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

    /// The longest `hello` or `proof` (the two lines before a session is established): whoever
    /// reaches the peer port may send them. A proof is ~100 bytes; a hello ~300 plus its version
    /// vector, one entry of at most 87 bytes per node of the mission (63-byte node ids), so 64
    /// KiB holds a vector of some 750 nodes at the longest ids and thousands at usual ones,
    /// where a mission has tens.
    public static let maximumHandshakeLineLength = 64 << 10
}

/// Per peer node, the offset in this node's log from which events are "fresh": sent ahead of the
/// backlog that was there when the peer first connected lacking it. Kept across sessions (a cut
/// does not turn a fresh event into backlog), forgotten once the peer holds the whole backlog.
public final class FreshBoundaries: Sendable {
    let boundaries = Mutex<[String: UInt64]>([:])
    public init() {}

    /// The boundary for `peer`, whose backlog starts at `start`, with the log ending at `end`: an
    /// earlier boundary still inside the backlog stands; otherwise the end of the log.
    func boundary(for peer: String, start: UInt64, end: UInt64) -> UInt64 {
        boundaries.withLock { all in
            if let b = all[peer], b > start, b <= end { return b }
            all[peer] = end
            return end
        }
    }

    func forget(_ peer: String) { _ = boundaries.withLock { $0.removeValue(forKey: peer) } }
}

/// Per peer node, whether the last session found the link slow enough to compress: the next
/// session then compresses from its first message instead of measuring again.
public final class SlowLinks: Sendable {
    let slow = Mutex<[String: Bool]>([:])
    public init() {}
    func isSlow(_ peer: String) -> Bool { slow.withLock { $0[peer] ?? false } }
    func set(_ peer: String, slow value: Bool) { slow.withLock { $0[peer] = value } }
}

/// A peer connection as the listener or dialer set it up: the channel, and its byte counters.
public struct PeerConnection: Sendable {
    public var channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
    public var counters: PeerByteCounters
}

/// Runs the peer protocol over one connection (either direction): drives a `PeerSession`,
/// streams what the peer lacks from the log (fresh events ahead of the backlog, then live),
/// checks and stores what it sends. Returns when the connection ends; returns whether the
/// session was established.
public enum PeerLink {
    final class Shared: Sendable {
        struct State {
            var session: PeerSession<ContinuousClock>
            /// Per origin, the highest seq the peer is known to hold (contiguously).
            var peerHas = VersionVector()
            var established = false
            /// The registry entry of this session (known once the peer's node id is, for inbound).
            var key: String?
            var pacer: LinkPacer
            /// The registry entry when this session first published: its totals plus this
            /// session's counters are what `status` shows.
            var base: PeerRegistry.Entry? = nil
        }
        let state: Mutex<State>
        let wake: AsyncStream<Void>
        let wakeContinuation: AsyncStream<Void>.Continuation

        init(_ session: PeerSession<ContinuousClock>, pacer: LinkPacer) {
            state = Mutex(State(session: session, pacer: pacer))
            (wake, wakeContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        }

        func with<R>(_ body: (inout State) -> R) -> R { state.withLock { body(&$0) } }
    }

    /// Sets up a new peer channel (TLS, byte counting, line framing with inflation, deflation of
    /// what it writes once the session says so) and wraps it for `run`.
    public static func configure(_ channel: any Channel, server: Bool, context: PeerContext) throws -> PeerConnection {
        let counters = PeerByteCounters()
        try PeerTLS.addHandler(context.tls, server: server, to: channel)
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(ByteArrivalCounter())
        try sync.addHandler(PeerDeflateEncoder(counters: counters))  // level 6: see Benchmarks/link_compression.py
        try sync.addHandler(
            ByteToMessageHandler(
                PeerLineDecoder(
                    maximumLineLength: PeerContext.maximumLineLength, handshakeLineLength: PeerContext.maximumHandshakeLineLength,
                    acceptsCompression: !context.session.compression.isEmpty,
                    counters: counters)))
        let wrapped = try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
        return PeerConnection(channel: wrapped, counters: counters)
    }

    @discardableResult
    public static func run(
        _ connection: PeerConnection, context: PeerContext, registryKey: String?, direction: String,
        maximumBytesPerSecond: Int? = nil, onEstablished: (@Sendable () -> Void)? = nil
    ) async -> Bool {
        let channel = connection.channel
        let counters = connection.counters
        let store = context.store
        let logger = context.logger
        let session = PeerSession(
            nodeID: context.nodeID, identity: context.identity, trust: context.trust(), configuration: context.session,
            clock: ContinuousClock())
        let shared = Shared(session, pacer: LinkPacer(configuration: context.pacer))
        shared.with { $0.key = registryKey }
        let remote = channel.channel.remoteAddress?.description ?? "?"
        let channelRef = channel.channel
        let arrivals = try? await channelRef.pipeline.handler(type: ByteArrivalCounter.self).get()
        let cap = maximumBytesPerSecond ?? context.maximumBytesPerSecond
        @Sendable func publish(final: Bool = false) {
            Self.publish(shared: shared, counters: counters, context: context, direction: direction, final: final)
        }
        do {
            try await channel.executeThenClose { inbound, outbound in
                /// Carries out actions; false once the session is over. Control lines are written
                /// straight to the channel, not queued behind `events` messages waiting in the
                /// async writer (docs/PROTOCOL.md, "Control before data").
                @Sendable func perform(_ actions: [PeerSession<ContinuousClock>.Action]) async throws -> Bool {
                    for action in actions {
                        switch action {
                        case .send(let line):
                            channelRef.writeAndFlush(ByteBuffer(bytes: line), promise: nil)
                        case .established(let peer, let vector):
                            shared.with { $0.peerHas = vector; $0.established = true }
                            shared.wakeContinuation.yield()
                            logger.info("peer session established", metadata: ["sync.peer": "\(peer)", "sync.remote": "\(remote)"])
                        case .acknowledged(let vector):
                            let compress = shared.with { s -> [PeerSession<ContinuousClock>.Action] in
                                s.peerHas = s.peerHas.merged(with: vector)
                                s.pacer.acknowledged(at: .now)
                                return s.pacer.wantsCompression ? s.session.startCompressing() : []
                            }
                            for case .send(let line) in compress {
                                channelRef.writeAndFlush(ByteBuffer(bytes: line), promise: nil)
                                if let peer = shared.with({ $0.session.peer }) { context.slowLinks.set(peer, slow: true) }
                                logger.info("peer link is slow: compressing", metadata: ["sync.remote": "\(remote)"])
                            }
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
                            shared.wakeContinuation.yield()
                            return false
                        case .ingest, .ingestFresh:
                            break  // handled by the reader
                        }
                    }
                    return true
                }
                /// Writes one `events` or `fresh` message through the async writer (which waits on
                /// the socket's writability) and counts it in flight.
                @Sendable func sendData(_ stored: [[UInt8]], fresh: Bool) async throws -> Bool {
                    // A compressed (slow) link also leaves out what the receiver derives.
                    let lines = shared.with { $0.session.sendCompression } == nil ? stored : CompactEventLine.compact(stored)
                    let bytes = lines.reduce(0) { $0 + $1.count + 1 }
                    let actions: [PeerSession<ContinuousClock>.Action] = shared.with { s in
                        let a = s.session.sendEvents(lines, fresh: fresh)
                        if !a.isEmpty { s.pacer.sent(bytes: bytes, at: .now) }
                        return a
                    }
                    for case .send(let line) in actions { try await outbound.write(ByteBuffer(bytes: line)) }
                    return !actions.isEmpty
                }

                guard try await perform(shared.with { $0.session.start(vector: store.versionVector) }) else { return }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {  // keep-alive, timeouts, and a trust list reloaded meanwhile
                        var bytesSeen: UInt64 = 0
                        while !Task.isCancelled {
                            try await Task.sleep(for: .milliseconds(250))
                            let trust = context.trust()
                            let bytes = arrivals?.bytes ?? 0
                            let arrived = bytes != bytesSeen
                            bytesSeen = bytes
                            guard
                                try await perform(
                                    shared.with { s in
                                        if arrived { s.session.bytesArrived() }
                                        return s.session.updateTrust(trust) + s.session.tick()
                                    })
                            else { return }
                            publish()
                        }
                    }
                    group.addTask {  // the log's commits wake the sender
                        for await _ in store.commitSignals() { shared.wakeContinuation.yield() }
                    }
                    group.addTask {  // fresh events, backlog, then live
                        try await sendLoop(
                            shared: shared, context: context, send: sendData, cap: cap, counters: counters,
                            registryKey: { shared.with { $0.key } }, direction: direction, control: perform)
                    }
                    var verifier = IngestVerifier(trust: context.trust())
                    // `fresh` messages carry runs of their own: they are checked apart from the backlog's.
                    var freshVerifier = IngestVerifier(trust: context.trust())
                    // Checked `events` messages wait in `queued` for the one storing task, which
                    // takes all that wait at each turn into one store (one fsync) and then
                    // acknowledges each in order, while the reader checks the next ones: the
                    // fsync overlaps the CPU work, and a disk slower than the checks gets larger
                    // commits instead of a queue. Fresh and fatal messages wait for it to drain.
                    let queued = StoreQueue()
                    var storing: Task<Bool, any Error>? = nil
                    defer { storing?.cancel() }
                    let window = context.session.window
                    /// Waits until the storing task has drained the queue; false when it ended the session.
                    func drained() async throws -> Bool {
                        guard let previous = storing else { return true }
                        storing = nil
                        return try await previous.value
                    }
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
                                    // The peer proved its key (the listener never pushes this
                                    // connection out to make room for another).
                                    onEstablished?()
                                    context.lostEvents?.check()
                                }
                                let key = shared.with { $0.key }
                                if let k = key {
                                    context.registry.update(k, direction: direction) { $0.lastContactMillis = nowMillis() }
                                }
                                switch action {
                                case .ingest(let compact), .ingestFresh(let compact):
                                    // Only a compressing peer sends compact lines.
                                    var lines = compact
                                    do {
                                        if shared.with({ $0.session.receiveCompressed }) { lines = try CompactEventLine.restore(compact) }
                                    } catch {
                                        _ = try await perform(shared.with { $0.session.fail("invalid_event", "\(error)") })
                                        break reading
                                    }
                                    if case .ingestFresh = action {
                                        let checked = check(lines, verifier: &freshVerifier, shared: nil, context: context)
                                        guard try await drained() else { break reading }
                                        guard try await storeChecked([checked], fresh: true, shared: shared, context: context, perform: perform, registryKey: key, direction: direction)
                                        else { break reading }
                                        continue
                                    }
                                    let checked = check(lines, verifier: &verifier, shared: shared, context: context)
                                    guard checked.fatal == nil else {
                                        guard try await drained() else { break reading }
                                        guard try await storeChecked([checked], fresh: false, shared: shared, context: context, perform: perform, registryKey: key, direction: direction)
                                        else { break reading }
                                        continue
                                    }
                                    let (start, waiting) = queued.withLock { q in
                                        q.messages.append(checked)
                                        defer { q.running = true }
                                        return (!q.running, q.messages.count)
                                    }
                                    if start {
                                        // The task before has ended (it cleared `running`): its answer is ready.
                                        guard try await drained() else { break reading }
                                        storing = Task {
                                            while true {
                                                let next = queued.withLock { q in
                                                    defer { q.messages = [] }
                                                    if q.messages.isEmpty { q.running = false }
                                                    return q.messages
                                                }
                                                if next.isEmpty { return true }
                                                guard
                                                    try await storeChecked(
                                                        next, fresh: false, shared: shared, context: context, perform: perform, registryKey: key, direction: direction)
                                                else { return false }
                                            }
                                        }
                                    } else if waiting >= window {
                                        // A peer that keeps to its window never gets here.
                                        guard try await drained() else { break reading }
                                    }
                                case .acknowledged(let vector):
                                    if let k = key {
                                        context.registry.update(k, direction: direction) { $0.peerVector = $0.peerVector.merged(with: vector) }
                                    }
                                default:
                                    break
                                }
                            }
                            guard try await perform(actions) else { break }
                        }
                        _ = try await drained()
                    } catch let error as LineTooLongError {
                        // Answered like any protocol error, then closed (a 100 MB line is refused once the limit has arrived),
                        // also when the line grew that long by inflating a compressed stream.
                        _ = try? await perform(shared.with { $0.session.fail("line_too_long", "a line is at most \(error.limit) bytes") })
                    } catch let error as InflateError {
                        _ = try? await perform(shared.with { $0.session.fail("invalid_compression", "\(error)") })
                    }
                    group.cancelAll()
                }
            }
        } catch {
            logger.debug("peer connection ended", metadata: ["sync.remote": "\(remote)", "error": "\(error)"])
            // E.g. a TLS handshake the other side refused: `status` shows it.
            if let key = shared.with({ $0.key }) { context.registry.update(key, direction: direction) { $0.lastError = "\(error)" } }
        }
        publish(final: true)
        let (peer, measured, fast) = shared.with { ($0.session.peer, $0.pacer.acks >= 3, !$0.pacer.wantsCompression) }
        if let peer, measured, fast { context.slowLinks.set(peer, slow: false) }
        if let key = shared.with({ $0.key }) { context.registry.update(key, direction: direction) { $0.connected = false } }
        return shared.with { $0.established }
    }

    /// Copies the session's link figures into its registry entry (for `status`).
    static func publish(shared: Shared, counters: PeerByteCounters, context: PeerContext, direction: String, final: Bool) {
        let (key, pacer, version, compression) = shared.with { ($0.key, $0.pacer, $0.session.version, $0.session.sendCompression) }
        guard let key else { return }
        let state = shared.with { $0.session.state }
        context.registry.update(key, direction: direction) { e in
            let b = shared.with { s in
                if s.base == nil { s.base = e }
                return s.base!
            }
            e.link.rawBytesSent = b.link.rawBytesSent + counters.rawSent
            e.link.wireBytesSent = b.link.wireBytesSent + counters.wireSent
            e.link.rawBytesReceived = b.link.rawBytesReceived + counters.rawReceived
            e.link.wireBytesReceived = b.link.wireBytesReceived + counters.wireReceived
            e.link.messageBytes = pacer.messageBytes
            e.link.bytesPerSecond = pacer.bytesPerSecond
            if state != .awaitingHello && state != .idle {
                e.link.version = version
                e.link.compression = compression
            }
            if final && pacer.inFlightMessages > 0 {
                e.link.cutsMidMessage = b.link.cutsMidMessage + 1
                e.link.bytesLostToCuts = b.link.bytesLostToCuts + UInt64(pacer.unacknowledgedBytes)
            }
        }
    }

    /// Checks one `events` or `fresh` message: hashes, signatures, trust (`IngestVerifier`).
    static func check(_ lines: [[UInt8]], verifier: inout IngestVerifier, shared: Shared?, context: PeerContext) -> IngestVerifier.Output {
        verifier.trust = context.trust()
        let checked = verifier.check(lines, threads: context.verificationThreads)
        // The peer holds what it sent, whatever this node makes of it. Recorded before storing:
        // the store wakes this session's sender as soon as the events are committed, and it
        // must not echo them back. (Not for `fresh` events: the peer's chain before them is
        // what this node lacks, and the vector counts only contiguous seqs.)
        shared?.with { s in
            for e in checked.verified where e.seq > s.peerHas[e.origin] { s.peerHas[e.origin] = e.seq }
        }
        return checked
    }

    /// Stores what `check` let through of `messages` (in one store, so one fsync), stores held
    /// events the log now reaches, then per message in order answers refusals and acknowledges.
    /// For a `fresh` message (one at a time): what follows on from the log is stored, the rest
    /// held. False ends the session.
    static func storeChecked(
        _ messages: [IngestVerifier.Output], fresh: Bool, shared: Shared, context: PeerContext,
        perform: @Sendable ([PeerSession<ContinuousClock>.Action]) async throws -> Bool, registryKey: String?, direction: String
    ) async throws -> Bool {
        // Refusals by the store, per message (a held event promoted later counts with the last).
        var refusals = messages.map(\.refused)
        var toStore = messages.flatMap(\.verified)
        // The message each event of `toStore` came in.
        var from = messages.indices.flatMap { i in repeatElement(i, count: messages[i].verified.count) }
        if fresh, let checked = messages.first {
            from = []
            let held = context.store.versionVector
            var next = held
            toStore = []
            for e in checked.verified {
                if e.seq <= held[e.origin] || e.seq == next[e.origin] + 1 {
                    toStore.append(e)
                    from.append(0)
                    next[e.origin] = max(next[e.origin], e.seq)
                } else {
                    context.held.hold(e)
                }
            }
        }
        do {
            var stored: UInt64 = 0
            var batch = toStore
            while !batch.isEmpty {
                let outcomes = try await context.store.ingest(batch)
                var progressed = false
                for (i, (event, outcome)) in zip(batch, outcomes).enumerated() {
                    switch outcome {
                    case .stored:
                        stored += 1
                        progressed = true
                    case .duplicate: break
                    case .refused:
                        refusals[i < from.count ? from[i] : messages.count - 1].append(IngestVerifier.Refusal(event: event, outcome: outcome))
                    }
                }
                from = []
                // Held events the log now reaches go next; refused ones are let go.
                context.held.drop(batch)
                batch = progressed && context.held.count > 0 ? context.held.promotable(after: context.store.versionVector) : []
            }
            if let registryKey, stored > 0 || messages.contains(where: { !$0.verified.isEmpty }) {
                let has = shared.with { $0.peerHas }
                context.registry.update(registryKey, direction: direction) { e in
                    e.eventsReceived += stored
                    e.peerVector = e.peerVector.merged(with: has)
                }
            }
        } catch {
            return try await perform(shared.with { $0.session.fail(error.code.rawValue, error.message) })
        }
        for (checked, refused) in zip(messages, refusals) {
            for r in refused.prefix(16) {
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
            guard try await perform(shared.with { $0.session.acknowledge(vector: context.store.versionVector) }) else { return false }
        }
        return true
    }

    /// Checked `events` messages waiting for the storing task, and whether it runs.
    final class StoreQueue: Sendable {
        struct State {
            var messages: [IngestVerifier.Output] = []
            var running = false
        }
        let state = Mutex(State())
        func withLock<R>(_ body: (inout State) -> R) -> R { state.withLock { body(&$0) } }
    }

    /// Streams what the peer lacks, message by message as the pacer allows:
    /// - with a version-2 peer that lacks a backlog, events stored after the backlog began (the
    ///   fresh boundary) go first, in `fresh` messages the peer may hold out of order; the backlog
    ///   follows in `events` messages, in log order; once it is through, and every message before
    ///   is acknowledged, one cursor goes on from the boundary;
    /// - otherwise one cursor, in log order, from the earliest event any origin needs, then live.
    static func sendLoop(
        shared: Shared, context: PeerContext, send: @Sendable ([[UInt8]], Bool) async throws -> Bool, cap: Int?,
        counters: PeerByteCounters, registryKey: @Sendable () -> String?, direction: String,
        control: @Sendable ([PeerSession<ContinuousClock>.Action]) async throws -> Bool
    ) async throws {
        var wake = shared.wake.makeAsyncIterator()
        while !shared.with({ $0.established }) {
            guard await wake.next() != nil else { return }
        }
        // A link whose handshake took a field link's round trip, found slow in an earlier
        // session, or capped below what compression costs, is compressed from the first message.
        let (handshake, peerID) = shared.with { ($0.session.handshakeRoundTrip, $0.session.peer) }
        if let peer = peerID,
            (handshake.map { $0 >= context.pacer.compressAboveRoundTrip } ?? false) || context.slowLinks.isSlow(peer)
                || (cap.map { $0 < context.pacer.compressBelowCap } ?? false)
        {
            guard try await control(shared.with { $0.session.startCompressing() }) else { return }
        }
        let store = context.store
        let (peerHas, version, peer) = shared.with { ($0.peerHas, $0.session.version, $0.session.peer ?? "?") }
        var repairs = store.repairs
        let end = store.count
        let start = earliestLacked(store, peerHas: peerHas, end: end)
        var cursor = start
        // Two lanes while a version-2 peer lacks a backlog: [cursor, boundary) and [fresh, …).
        var boundary: UInt64? = nil
        var freshCursor: UInt64 = 0
        var freshSent = 0
        if version >= 2, start < end {
            let b = context.freshBoundaries.boundary(for: peer, start: start, end: end)
            boundary = b
            freshCursor = b
        } else {
            context.freshBoundaries.forget(peer)
        }
        var pace = WireBudget(bytesPerSecond: cap)

        while true {
            // Wait until the window has room.
            while !shared.with({ $0.session.canSendEvents && $0.pacer.canSend }) {
                if shared.with({ $0.session.state }) == .closed { return }
                guard await wake.next() != nil else { return }
            }
            if shared.with({ $0.session.state }) == .closed { return }
            if let wait = pace.wait() { try await Task.sleep(for: wait) }
            let events = context.messageEvents
            var limit = shared.with { $0.pacer.messageBytes }
            pace.observe(rawSent: counters.rawSent, wireSent: counters.wireSent)
            if let capped = pace.messageBytes(target: context.pacer.targetSeconds) { limit = min(limit, capped) }

            if let b = boundary {
                // Fresh lane first: everything stored since the boundary that the peer lacks, up
                // to half of what a receiver holds out of order (`HeldEvents`); past that, the
                // rest goes in order after the backlog.
                if store.count > freshCursor, freshSent < HeldEvents.defaultMaximumEvents / 2 {
                    let has = shared.with { $0.peerHas }
                    let (lines, next) = try read(store, from: freshCursor, to: store.count, bytes: limit, events: events) { e in
                        e.seq > has[e.origin]
                    }
                    freshCursor = next
                    freshSent += lines.count
                    if !lines.isEmpty {
                        guard try await send(lines, true) else { return }
                        pace.charge(lines)
                        count(lines.count, registryKey(), context, direction)
                    }
                    continue
                }
                if cursor < b {
                    let lines = try backlog(store, cursor: &cursor, to: b, bytes: limit, events: events, shared: shared)
                    if !lines.isEmpty {
                        guard try await send(lines, false) else { return }
                        pace.charge(lines)
                        count(lines.count, registryKey(), context, direction)
                    }
                    continue
                }
                // The backlog is through. Once every message is acknowledged, the peer's vector
                // says which fresh events it stored; one cursor goes on from the boundary.
                while shared.with({ $0.pacer.inFlightMessages > 0 && $0.session.state != .closed }) {
                    guard await wake.next() != nil else { return }
                }
                boundary = nil
                cursor = b
                context.freshBoundaries.forget(peer)
                continue
            }
            if store.repairs != repairs {
                // Events written back into damaged segments sit behind the cursor: go back for
                // those the peer lacks.
                repairs = store.repairs
                cursor = min(cursor, earliestLacked(store, peerHas: shared.with { $0.peerHas }, end: cursor))
            }
            if store.count > cursor {
                let lines = try backlog(store, cursor: &cursor, to: store.count, bytes: limit, events: events, shared: shared)
                if !lines.isEmpty {
                    guard try await send(lines, false) else { return }
                    pace.charge(lines)
                    count(lines.count, registryKey(), context, direction)
                }
                continue
            }
            guard await wake.next() != nil else { return }
        }
    }

    /// The offset of the first event (before `end`) of an origin this node holds further than
    /// the peer: where sending what the peer lacks begins.
    static func earliestLacked(_ store: EventStore, peerHas: VersionVector, end: UInt64) -> UInt64 {
        let ours = store.versionVector
        var start = end
        for origin in ours.origins where ours[origin] > peerHas[origin] {
            if let offset = store.offset(origin: origin, seq: peerHas[origin] + 1) { start = min(start, offset) }
        }
        return start
    }

    static func count(_ n: Int, _ key: String?, _ context: PeerContext, _ direction: String) {
        if let key { context.registry.update(key, direction: direction) { $0.eventsSent += UInt64(n) } }
    }

    /// The next message of the in-order lane: lines from `cursor` (up to `end`) whose seq is the
    /// next the peer lacks of their origin; raises what the peer is known to hold.
    static func backlog(
        _ store: EventStore, cursor: inout UInt64, to end: UInt64, bytes: Int, events: Int, shared: Shared
    ) throws -> [[UInt8]] {
        var has = shared.with { $0.peerHas }
        let (lines, next) = try read(store, from: cursor, to: end, bytes: bytes, events: events) { e in
            guard e.seq == has[e.origin] + 1 else { return false }
            has[e.origin] = e.seq
            return true
        }
        cursor = next
        shared.with { $0.peerHas = $0.peerHas.merged(with: has) }
        return lines
    }

    /// Stored lines from `offset` (below `end`) that `take` accepts, up to `bytes` (at least one
    /// line) and `events`; and the offset after the last line looked at.
    static func read(
        _ store: EventStore, from offset: UInt64, to end: UInt64, bytes: Int, events: Int, take: (EventHead) -> Bool
    ) throws -> ([[UInt8]], UInt64) {
        var out: [[UInt8]] = []
        var size = 0
        var next = offset
        // Lines are read in blocks sized to the message (about 575 bytes an event).
        let block = max(16, min(events, bytes / 256))
        while next < end, out.count < events {
            let run = try store.readLineRun(from: next, limit: Int(min(UInt64(block), end - next)))
            if run.next == next { break }
            for (line, offset) in zip(run.lines, run.offsets) {
                if !out.isEmpty && (size + line.count > bytes || out.count >= events) { return (out, offset) }
                guard let head = EventHead(line: line) else {
                    throw StoreError(.corrupt, "stored line at offset \(offset) has no origin and seq")
                }
                if take(head) {
                    out.append(line)
                    size += line.count + 1
                }
            }
            // Past the last line, and past damaged slots (which hold nothing to send).
            next = run.next
        }
        return (out, next)
    }
}

/// A per-peer cap on the bytes written to the wire: a token bucket of half a second's worth,
/// filled at the cap; the sender waits before a message while the bucket is empty. Messages are
/// charged when the sender hands them over, at the compression ratio seen so far (the link's
/// counters lag behind the writes that are still queued); control lines are not charged.
struct WireBudget {
    let bytesPerSecond: Int?
    let started = ContinuousClock.now
    /// Wire bytes charged so far (raw bytes times `ratio`).
    var spent = 0.0
    /// Wire bytes per raw byte, from the link's counters (1 until something was counted).
    var ratio = 1.0

    init(bytesPerSecond: Int?) { self.bytesPerSecond = bytesPerSecond }

    mutating func observe(rawSent: UInt64, wireSent: UInt64) {
        if rawSent > 4096 && wireSent > 0 { ratio = min(1, max(0.02, Double(wireSent) / Double(rawSent))) }
    }

    mutating func charge(_ lines: [[UInt8]]) {
        guard bytesPerSecond != nil else { return }
        spent += Double(lines.reduce(32) { $0 + $1.count + 1 }) * ratio
    }

    /// The raw size of a message that takes `target` seconds of the cap on the wire, at least
    /// 2 KiB; nil without a cap. The pacer measures the link, not the cap: without this, one
    /// message could take most of a minute at the cap.
    func messageBytes(target: Double) -> Int? {
        guard let rate = bytesPerSecond, rate > 0 else { return nil }
        return max(2 << 10, Int(Double(rate) * target / ratio))
    }

    /// How long to wait before the next message: until what was charged is within the cap times
    /// the time since the session began, plus half a second of burst. With messages of half a
    /// second at the cap, what went out by any moment stays under the cap times one second more.
    func wait() -> Duration? {
        guard let rate = bytesPerSecond, rate > 0 else { return nil }
        let allowed = Double(rate) * (LinkPacer.seconds(started.duration(to: .now)) + 0.5)
        let over = spent - allowed
        guard over > 0 else { return nil }
        return .milliseconds(Int64(over * 1000 / Double(rate)) + 1)
    }
}

func nowMillis() -> Int64 { Int64(HybridLogicalClock.systemMillis()) }

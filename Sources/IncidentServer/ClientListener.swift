import EventStore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization
import Wire

/// The client API: a TCP listener (TLS when `tls_cert` is set) speaking line-delimited JSON; each
/// connection is served by a `ClientConnectionHandler` on its event loop.
///
/// Each connection, in order: admitted under the connection limits (else `too_many_connections`,
/// closed); each request line takes a token from the connection's bucket (else `rate_limited`),
/// passes authentication (`ClientAuthority.gate`: `auth` answered there, `unauthorized`
/// otherwise), then the request handler (which checks the role). While the client has not read
/// `max_pending_output_bytes` of answers, no request is handled; if that lasts
/// `slow_consumer_timeout_ms` the connection is answered `slow_consumer` and closed. One reaper
/// task closes connections that did not authenticate in time or fell idle (`idle_timeout`).
/// `ConnectionLimits.swift` lists the limits.
///
/// Graceful shutdown: stop accepting; connections keep being served — appends answered
/// `shutting_down`, reads as usual — and each is closed once it has been quiet (no request being
/// handled, none read) for `quietPeriod`, or when `drainLimit` has passed. So every append a
/// client sent before it saw the close gets an answer, pipelined ones included.
///
/// A client that half-closes (`nc -N`, shutdown(SHUT_WR)) still gets the answers to every line
/// it sent: remote half-closure is allowed, and the connection closes after the last answer.
final class ClientListener: Service {
    let address: HostPort
    let handler: RequestHandler
    let maximumLineLength: Int
    let limits: ClientLimits
    let authority: ClientAuthority
    let tls: NIOSSLContext?
    let group: any EventLoopGroup
    let logger: Logger
    let onBound: @Sendable (HostPort) -> Void
    let connections = ConnectionRegistry()
    /// Each event loop's requests, for whether an append may commit on its loop (`LoopTraffic`).
    let traffic: [ObjectIdentifier: LoopTraffic]
    let appendQuietWindow: Duration
    static let quietPeriod = Duration.milliseconds(150)
    static let drainLimit = Duration.seconds(3)
    /// How often the reaper looks for connections past their handshake or idle timeout.
    static let reapInterval = Duration.milliseconds(100)
    /// Request lines a connection holds before the node stops reading its socket.
    static let bufferedLines = 4
    /// Requests of one connection handled but not answered yet (pipelined appends being
    /// committed) before the node stops handling and reading its requests.
    static let answersInFlight = 16
    /// A listening socket passed by systemd (socket activation); `address` is not bound then.
    let socket: Int32?

    init(
        address: HostPort, socket: Int32? = nil, handler: RequestHandler, maximumLineLength: Int, limits: ClientLimits,
        authority: ClientAuthority, tls: NIOSSLContext?, group: any EventLoopGroup, logger: Logger,
        appendQuietWindow: Duration = LoopTraffic.quietWindow, onBound: @escaping @Sendable (HostPort) -> Void
    ) {
        self.address = address
        self.socket = socket
        self.handler = handler
        self.maximumLineLength = maximumLineLength
        self.limits = limits
        self.authority = authority
        self.tls = tls
        self.group = group
        self.appendQuietWindow = appendQuietWindow
        self.traffic = LoopTraffic.perLoop(of: group, window: appendQuietWindow)
        self.logger = logger
        self.onBound = onBound
    }

    func run() async throws {
        let maximumLineLength = self.maximumLineLength
        let tls = self.tls
        let initializer: @Sendable (any Channel) -> EventLoopFuture<Void> = { child in
            child.eventLoop.makeCompletedFuture {
                if let tls { try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                try child.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(LineFrameDecoder(maximumLineLength: maximumLineLength)))
                let traffic = self.traffic[ObjectIdentifier(child.eventLoop)] ?? LoopTraffic(window: self.appendQuietWindow)
                try child.pipeline.syncOperations.addHandler(ClientConnectionHandler(listener: self, traffic: traffic))
            }
        }
        // Above `max_pending_output_bytes` unwritten, the channel turns unwritable and the
        // connection stops handling requests (`ClientConnectionHandler.waitForOutputRoom`).
        let outputBound = limits.maximumPendingOutputBytes
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: outputBound / 2, high: outputBound))
        let server: NIOAsyncChannel<Void, Never>
        if let socket {
            server = try await bootstrap.bind(socket, childChannelInitializer: initializer)
        } else {
            do {
                server = try await bootstrap.bind(host: address.host, port: address.port, childChannelInitializer: initializer)
            } catch {
                throw BindFailure(key: "listen", address: address, error: error)
            }
        }
        let local = server.channel.localAddress
        let bound = HostPort(host: socket == nil ? address.host : (local?.ipAddress ?? "?"), port: local?.port ?? address.port)
        logger.info(
            "client listener bound",
            metadata: [
                "client.address": "\(bound)", "client.socket": "\(socket == nil ? "bound" : "passed by systemd")",
                "client.tls": "\(tls == nil ? "off" : "on")",
            ])
        onBound(bound)

        let connections = self.connections
        let limits = self.limits
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    // The reaper: handshake and idle timeouts of every connection.
                    // A cancelled sleep ends the reaper: cancellation (a service of the group
                    // failed) never sets `stopped`, and a loop that took the failed sleep for a
                    // tick would spin.
                    while !connections.stopped {
                        do { try await Task.sleep(for: Self.reapInterval) } catch { return }
                        for (channel, error) in connections.expired(now: .now, limits: limits) {
                            self.logger.notice(
                                "client connection timed out; closing",
                                metadata: ["client.peer": "\(channel.remoteAddress?.description ?? "?")", "client.reason": "\(error.message)"])
                            channel.answerThenClose(self.handler.errors.refusal(error))
                        }
                    }
                }
                // Each connection is served by its channel handler; accepting needs nothing more.
                try await server.executeThenClose { inbound in
                    for try await _ in inbound {}
                }
                // Not accepting any more: close connections as they fall quiet, all of them by the limit.
                let deadline = ContinuousClock.now + Self.drainLimit
                while connections.closeQuiet(for: Self.quietPeriod) > 0, ContinuousClock.now < deadline {
                    do { try await Task.sleep(for: .milliseconds(20)) } catch { break }
                }
                for channel in connections.closeAll() { try? await channel.closeFuture.get() }
            }
        } onGracefulShutdown: {
            connections.beginShutdown()
            server.channel.close(promise: nil)
        }
        logger.info("client listener stopped")
    }
}

/// A connection's busy flag (a request being handled) and the time of its last request: set by
/// its handler on every request, read by the reaper and shutdown under the registry's lock.
final class ConnectionActivity: Sendable {
    private let busyFlag = Atomic(false)
    /// Nanoseconds from `epoch`.
    private let lastNanos: Atomic<Int64>
    private static let epoch = ContinuousClock.now

    init(now: ContinuousClock.Instant) {
        lastNanos = Atomic(Self.nanos(now))
    }

    private static func nanos(_ instant: ContinuousClock.Instant) -> Int64 {
        let c = (instant - epoch).components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }

    func mark(busy: Bool, at now: ContinuousClock.Instant) {
        busyFlag.store(busy, ordering: .relaxed)
        lastNanos.store(Self.nanos(now), ordering: .relaxed)
    }

    var busy: Bool { busyFlag.load(ordering: .relaxed) }
    var last: ContinuousClock.Instant { Self.epoch + .nanoseconds(lastNanos.load(ordering: .relaxed)) }
}

/// The open client connections: the connection limits, the reaper's timeouts, and shutdown's
/// closing of each connection once it is quiet.
final class ConnectionRegistry: Sendable {
    struct Entry {
        var channel: any Channel
        var address: String
        /// Busy and last request, set by the connection's handler without this lock.
        let activity: ConnectionActivity
        var busy: Bool { activity.busy }
        var lastActivity: ContinuousClock.Instant { activity.last }
        let connected: ContinuousClock.Instant
        /// Authenticated (anonymous included): the handshake timeout no longer applies.
        var authenticated = false
        /// Handed to the reaper; not reported twice.
        var expired = false
    }

    struct State {
        var entries: [Int: Entry] = [:]
        var byAddress: [String: Int] = [:]
        var nextID = 0
        var stopped = false
    }

    let state = Mutex(State())
    /// Read by every request (`ConnectionActivity.mark`), so not behind the lock.
    private let shuttingDown = Atomic(false)

    /// What `admit` decided: the new connection's id, or nil (refused); and the connection it
    /// evicted to make room, if any, which the caller answers and closes.
    struct Admission {
        var id: Int?
        var activity: ConnectionActivity?
        var evicted: (any Channel)?
    }

    /// Registers a connection. At a limit (in total, or from its address) the oldest connection
    /// that has not authenticated and has no request running (from the same address when that
    /// limit is the one reached) gives up its slot; only when every slot is held by authenticated
    /// or busy connections is the new one refused. So connections that never authenticate cannot
    /// keep a real client out: each new arrival pushes the oldest of them out, and a client that
    /// authenticates is never evicted (docs/SECURITY.md, "Connection floods").
    func admit(_ channel: any Channel, address: String, limits: ClientLimits) -> Admission {
        state.withLock { s in
            var evicted: (any Channel)? = nil
            let addressFull = s.byAddress[address, default: 0] >= limits.maximumConnectionsPerAddress
            if addressFull || s.entries.count >= limits.maximumConnections {
                let victim = s.entries
                    .filter { !$0.value.authenticated && !$0.value.busy && !$0.value.expired && (!addressFull || $0.value.address == address) }
                    .min { ($0.value.connected, $0.key) < ($1.value.connected, $1.key) }
                guard let victim else { return Admission(id: nil, activity: nil, evicted: nil) }
                removeEntry(victim.key, from: &s)
                evicted = victim.value.channel
                // Both limits may be reached with the victim from another address: check again.
                if s.entries.count >= limits.maximumConnections || s.byAddress[address, default: 0] >= limits.maximumConnectionsPerAddress {
                    return Admission(id: nil, activity: nil, evicted: evicted)
                }
            }
            let id = s.nextID
            s.nextID += 1
            let now = ContinuousClock.now
            let activity = ConnectionActivity(now: now)
            s.entries[id] = Entry(channel: channel, address: address, activity: activity, connected: now)
            s.byAddress[address, default: 0] += 1
            return Admission(id: id, activity: activity, evicted: evicted)
        }
    }

    private func removeEntry(_ id: Int, from s: inout State) {
        guard let e = s.entries.removeValue(forKey: id) else { return }
        let n = s.byAddress[e.address, default: 1] - 1
        s.byAddress[e.address] = n > 0 ? n : nil
    }

    /// Forgets a connection that ended (a no-op for one evicted already).
    func remove(_ id: Int) {
        state.withLock { removeEntry(id, from: &$0) }
    }

    /// Marks a connection busy (a request read) or idle (its answer written); returns whether
    /// shutdown has begun. Atomics only: every request of every connection passes here.
    func setBusy(_ activity: ConnectionActivity, _ busy: Bool, at now: ContinuousClock.Instant = .now) -> Bool {
        activity.mark(busy: busy, at: now)
        return shuttingDown.load(ordering: .acquiring)
    }

    func markAuthenticated(_ id: Int) {
        state.withLock { $0.entries[id]?.authenticated = true }
    }

    /// Connections past their handshake timeout (not authenticated in time) or idle timeout (no
    /// request for that long), each with the error it is answered; each is reported once.
    func expired(now: ContinuousClock.Instant, limits: ClientLimits) -> [(any Channel, WireError)] {
        state.withLock { s in
            var out: [(any Channel, WireError)] = []
            for (id, e) in s.entries where !e.expired && !e.busy {
                if !e.authenticated, e.connected.duration(to: now) >= limits.handshakeTimeout {
                    out.append((e.channel, WireError(.idleTimeout, "no authenticated request within \(limits.handshakeTimeout); closing the connection")))
                } else if e.lastActivity.duration(to: now) >= limits.idleTimeout {
                    out.append((e.channel, WireError(.idleTimeout, "no request for \(limits.idleTimeout); closing the connection")))
                } else {
                    continue
                }
                s.entries[id]?.expired = true
            }
            return out
        }
    }

    var stopped: Bool { state.withLock { $0.stopped } }

    /// Open connections.
    var count: Int { state.withLock { $0.entries.count } }

    func beginShutdown() {
        shuttingDown.store(true, ordering: .releasing)
    }

    /// Closes connections idle for at least `quiet`; returns how many connections remain open.
    func closeQuiet(for quiet: Duration) -> Int {
        let now = ContinuousClock.now
        let (quietOnes, remaining) = state.withLock { s -> ([any Channel], Int) in
            let q = s.entries.values.filter { !$0.busy && $0.lastActivity.duration(to: now) >= quiet }.map(\.channel)
            return (q, s.entries.count)
        }
        for channel in quietOnes { channel.close(promise: nil) }
        return remaining
    }

    /// Closes every connection and stops the reaper; returns the channels closed.
    func closeAll() -> [any Channel] {
        let channels = state.withLock { s in
            s.stopped = true
            return s.entries.values.map(\.channel)
        }
        for channel in channels { channel.close(promise: nil) }
        return channels
    }
}

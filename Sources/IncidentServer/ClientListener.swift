import EventStore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import Wire

/// The client API: a TCP listener speaking line-delimited JSON, one task per connection.
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
    let group: any EventLoopGroup
    let logger: Logger
    let onBound: @Sendable (HostPort) -> Void
    let connections = ConnectionRegistry()
    static let quietPeriod = Duration.milliseconds(150)
    static let drainLimit = Duration.seconds(3)
    /// A listening socket passed by systemd (socket activation); `address` is not bound then.
    let socket: Int32?

    init(
        address: HostPort, socket: Int32? = nil, handler: RequestHandler, maximumLineLength: Int, group: any EventLoopGroup,
        logger: Logger, onBound: @escaping @Sendable (HostPort) -> Void
    ) {
        self.address = address
        self.socket = socket
        self.handler = handler
        self.maximumLineLength = maximumLineLength
        self.group = group
        self.logger = logger
        self.onBound = onBound
    }

    func run() async throws {
        let maximumLineLength = self.maximumLineLength
        let initializer: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { child in
            child.eventLoop.makeCompletedFuture {
                try child.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(LineFrameDecoder(maximumLineLength: maximumLineLength)))
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
            }
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        let server: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
        if let socket {
            server = try await bootstrap.bind(socket, childChannelInitializer: initializer)
        } else {
            server = try await bootstrap.bind(host: address.host, port: address.port, childChannelInitializer: initializer)
        }
        let local = server.channel.localAddress
        let bound = HostPort(host: socket == nil ? address.host : (local?.ipAddress ?? "?"), port: local?.port ?? address.port)
        logger.info(
            "client listener bound",
            metadata: ["client.address": "\(bound)", "client.socket": "\(socket == nil ? "bound" : "passed by systemd")"])
        onBound(bound)

        let connections = self.connections
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection) }
                    }
                }
                // Not accepting any more: close connections as they fall quiet, all of them by the limit.
                let deadline = ContinuousClock.now + Self.drainLimit
                while connections.closeQuiet(for: Self.quietPeriod) > 0, ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(20))
                }
                connections.closeAll()
            }
        } onGracefulShutdown: {
            connections.beginShutdown()
            server.channel.close(promise: nil)
        }
        logger.info("client listener stopped")
    }

    func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let id = connections.register(connection.channel)
        defer { connections.remove(id) }
        let peer = connection.channel.remoteAddress?.description ?? "?"
        do {
            try await connection.executeThenClose { inbound, outbound in
                var state = RequestHandler.ConnectionState()
                do {
                    for try await buffer in inbound {
                        let shuttingDown = connections.setBusy(id, true)
                        let response = await handler.handle(
                            line: Array(buffer.readableBytesView), connection: &state, shuttingDown: shuttingDown)
                        try await outbound.write(ByteBuffer(bytes: response))
                        _ = connections.setBusy(id, false)
                    }
                } catch let error as LineTooLongError {
                    let wire = WireError(.lineTooLong, "a line is at most \(error.limit) bytes; closing the connection")
                    try? await outbound.write(ByteBuffer(bytes: ClientResponse.error(wire)))
                    logger.notice("line too long; connection closed", metadata: ["client.peer": "\(peer)"])
                }
            }
        } catch {
            logger.debug("client connection ended with an error", metadata: ["client.peer": "\(peer)", "error": "\(error)"])
        }
    }
}

/// The open client connections, so that shutdown can close each once it is quiet.
final class ConnectionRegistry: Sendable {
    struct Entry {
        var channel: any Channel
        var busy: Bool
        var lastActivity: ContinuousClock.Instant
    }

    struct State {
        var entries: [Int: Entry] = [:]
        var nextID = 0
        var shuttingDown = false
    }

    let state = Mutex(State())

    func register(_ channel: any Channel) -> Int {
        state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.entries[id] = Entry(channel: channel, busy: false, lastActivity: .now)
            return id
        }
    }

    func remove(_ id: Int) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    /// Marks a connection busy (a request read) or idle (its answer written); returns whether
    /// shutdown has begun.
    func setBusy(_ id: Int, _ busy: Bool) -> Bool {
        state.withLock { s in
            s.entries[id]?.busy = busy
            s.entries[id]?.lastActivity = .now
            return s.shuttingDown
        }
    }

    func beginShutdown() {
        state.withLock { $0.shuttingDown = true }
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

    func closeAll() {
        for channel in state.withLock({ $0.entries.values.map(\.channel) }) { channel.close(promise: nil) }
    }
}

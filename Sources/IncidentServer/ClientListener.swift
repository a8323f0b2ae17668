import EventStore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import Wire

/// The client API: a TCP listener speaking line-delimited JSON, one task per connection.
///
/// Graceful shutdown: stop accepting; a connection in the middle of a request finishes it and
/// writes the answer, then closes; idle connections get a short grace in which any new append is
/// answered `shutting_down`, then close. So every append a client sent gets an answer.
final class ClientListener: Service {
    let address: HostPort
    let handler: RequestHandler
    let maximumLineLength: Int
    let group: any EventLoopGroup
    let logger: Logger
    let onBound: @Sendable (HostPort) -> Void
    let connections = ConnectionRegistry()

    init(
        address: HostPort, handler: RequestHandler, maximumLineLength: Int, group: any EventLoopGroup, logger: Logger,
        onBound: @escaping @Sendable (HostPort) -> Void
    ) {
        self.address = address
        self.handler = handler
        self.maximumLineLength = maximumLineLength
        self.group = group
        self.logger = logger
        self.onBound = onBound
    }

    func run() async throws {
        let maximumLineLength = self.maximumLineLength
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: address.host, port: address.port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maximumLineLength: maximumLineLength)))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
                }
            }
        let bound = HostPort(host: address.host, port: server.channel.localAddress?.port ?? address.port)
        logger.info("client listener bound", metadata: ["client.address": "\(bound)"])
        onBound(bound)

        let connections = self.connections
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection) }
                    }
                }
                // Not accepting any more; give idle connections a moment, then close them.
                try? await Task.sleep(for: .milliseconds(100))
                connections.closeIdle()
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
                        if connections.setBusy(id, false) && connections.graceOver { break }
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

/// The open client connections, so that shutdown can close the idle ones and let busy ones finish.
final class ConnectionRegistry: Sendable {
    struct Entry {
        var channel: any Channel
        var busy: Bool
    }

    struct State {
        var entries: [Int: Entry] = [:]
        var nextID = 0
        var shuttingDown = false
        var graceOver = false
    }

    let state = Mutex(State())

    func register(_ channel: any Channel) -> Int {
        let (id, closeNow) = state.withLock { s -> (Int, Bool) in
            let id = s.nextID
            s.nextID += 1
            s.entries[id] = Entry(channel: channel, busy: false)
            return (id, s.graceOver)
        }
        if closeNow { channel.close(promise: nil) }
        return id
    }

    func remove(_ id: Int) {
        _ = state.withLock { $0.entries.removeValue(forKey: id) }
    }

    /// Marks a connection busy or idle; returns whether shutdown has begun.
    func setBusy(_ id: Int, _ busy: Bool) -> Bool {
        state.withLock { s in
            s.entries[id]?.busy = busy
            return s.shuttingDown
        }
    }

    var graceOver: Bool { state.withLock { $0.graceOver } }

    func beginShutdown() {
        state.withLock { $0.shuttingDown = true }
    }

    /// Ends the grace period: closes every idle connection now; busy ones close after answering.
    func closeIdle() {
        let idle = state.withLock { s -> [any Channel] in
            s.graceOver = true
            return s.entries.values.filter { !$0.busy }.map(\.channel)
        }
        for channel in idle { channel.close(promise: nil) }
    }
}

import Logging
public import NIOCore
import NIOPosix
public import ServiceLifecycle
public import Wire

/// Accepts peer connections on `peer_listen` and runs a session on each.
public final class PeerListener: Service {
    let address: HostPort
    let context: PeerContext
    let group: any EventLoopGroup
    let onBound: @Sendable (HostPort) -> Void
    /// A listening socket passed by systemd (socket activation); `address` is not bound then.
    let socket: NIOBSDSocket.Handle?

    public init(
        address: HostPort, socket: NIOBSDSocket.Handle? = nil, context: PeerContext, group: any EventLoopGroup,
        onBound: @escaping @Sendable (HostPort) -> Void
    ) {
        self.address = address
        self.socket = socket
        self.context = context
        self.group = group
        self.onBound = onBound
    }

    public func run() async throws {
        let context = self.context
        let initializer: @Sendable (any Channel) -> EventLoopFuture<PeerConnection> = { child in
            child.eventLoop.makeCompletedFuture { try PeerLink.configure(child, server: true, context: context) }
        }
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
        let server: NIOAsyncChannel<PeerConnection, Never>
        if let socket {
            server = try await bootstrap.bind(socket, childChannelInitializer: initializer)
        } else {
            do {
                server = try await bootstrap.bind(host: address.host, port: address.port, childChannelInitializer: initializer)
            } catch {
                throw BindFailure(key: "peer_listen", address: address, error: error)
            }
        }
        let local = server.channel.localAddress
        let bound = HostPort(host: socket == nil ? address.host : (local?.ipAddress ?? "?"), port: local?.port ?? address.port)
        context.logger.info("peer listener bound", metadata: ["sync.address": "\(bound)"])
        onBound(bound)
        // On shutdown: stop accepting, then cancel the sessions. They have no client waiting on
        // an answer, and what they stored is already committed.
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    let counter = PeerConnectionCounter()
                    for try await connection in inbound {
                        let channel = connection.channel.channel
                        let address = channel.remoteAddress?.ipAddress ?? "?"
                        let (admitted, evicted) = counter.admit(address, channel: channel, limits: context.inboundLimits)
                        if let evicted {
                            context.logger.notice(
                                "peer connection limit reached; closing the oldest connection without a proven key",
                                metadata: ["sync.remote": "\(evicted.remoteAddress?.description ?? "?")"])
                            let refusal = PeerMessage.error(code: "too_many_connections", message: "too many open peer connections; closing the oldest unproven one")
                            evicted.answerThenClose(refusal.encoded)
                        }
                        guard let id = admitted else {
                            context.logger.notice("too many peer connections; refusing one", metadata: ["sync.remote": "\(address)"])
                            let refusal = PeerMessage.error(code: "too_many_connections", message: "too many open peer connections")
                            group.addTask {
                                // Through executeThenClose, which finishes the async writer (NIO traps otherwise).
                                try? await connection.channel.executeThenClose { _, _ in
                                    try? await connection.channel.channel.answerThenClose(refusal.encoded).get()
                                }
                            }
                            continue
                        }
                        group.addTask {
                            defer { counter.release(id) }
                            await PeerLink.run(
                                connection, context: context, registryKey: nil, direction: "in", onEstablished: { counter.prove(id) })
                        }
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
        context.logger.info("peer listener stopped")
    }
}

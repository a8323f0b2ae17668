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

    public init(address: HostPort, context: PeerContext, group: any EventLoopGroup, onBound: @escaping @Sendable (HostPort) -> Void) {
        self.address = address
        self.context = context
        self.group = group
        self.onBound = onBound
    }

    public func run() async throws {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .bind(host: address.host, port: address.port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(LineFrameDecoder(maximumLineLength: PeerContext.maximumLineLength)))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
                }
            }
        let bound = HostPort(host: address.host, port: server.channel.localAddress?.port ?? address.port)
        context.logger.info("peer listener bound", metadata: ["sync.address": "\(bound)"])
        onBound(bound)
        let context = self.context
        // On shutdown: stop accepting, then cancel the sessions. They have no client waiting on
        // an answer, and what they stored is already committed.
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await PeerLink.run(channel: connection, context: context, registryKey: nil, direction: "in") }
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

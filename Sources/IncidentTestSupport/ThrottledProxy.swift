public import NIOCore
import NIOPosix
public import Wire

/// A TCP proxy on loopback for tests that need a slow link: what the target sends back to the
/// client is let through at `bytesPerSecond`, in 1 KiB slices; the other direction is not
/// slowed. Each accepted connection opens its own connection to the target.
public final class ThrottledProxy: Sendable {
    public let address: HostPort
    let server: any Channel

    public static func start(to target: HostPort, bytesPerSecond: Int) async throws -> ThrottledProxy {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { client in
                ClientBootstrap(group: client.eventLoop)
                    .channelInitializer { upstream in
                        upstream.eventLoop.makeCompletedFuture {
                            try upstream.pipeline.syncOperations.addHandler(Forward(to: client, bytesPerSecond: bytesPerSecond))
                        }
                    }
                    .connect(host: target.host, port: target.port)
                    .flatMap { upstream in
                        // The client's bytes are read only once there is somewhere to send them.
                        client.eventLoop.makeCompletedFuture {
                            try client.pipeline.syncOperations.addHandler(Forward(to: upstream, bytesPerSecond: nil))
                        }.flatMap { client.setOption(.autoRead, value: true) }
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return ThrottledProxy(address: HostPort(host: "127.0.0.1", port: server.localAddress!.port!), server: server)
    }

    init(address: HostPort, server: any Channel) {
        self.address = address
        self.server = server
    }

    public func stop() async {
        try? await server.close()
    }

    /// Writes what it reads to `peer`, paced at `bytesPerSecond` when given; closes `peer` when
    /// its own side closes.
    final class Forward: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let peer: any Channel
        let bytesPerSecond: Int?
        var nextSend = NIODeadline.now()

        init(to peer: any Channel, bytesPerSecond: Int?) {
            self.peer = peer
            self.bytesPerSecond = bytesPerSecond
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            guard let rate = bytesPerSecond else {
                peer.writeAndFlush(buffer, promise: nil)
                return
            }
            let peer = self.peer
            while buffer.readableBytes > 0, let slice = buffer.readSlice(length: min(1024, buffer.readableBytes)) {
                nextSend = max(nextSend, .now()) + .nanoseconds(Int64(slice.readableBytes) * 1_000_000_000 / Int64(rate))
                context.eventLoop.scheduleTask(deadline: nextSend) { peer.writeAndFlush(slice, promise: nil) }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            // After the slices still scheduled, so the far side gets everything before the close.
            let peer = self.peer
            context.eventLoop.scheduleTask(deadline: max(nextSend, .now())) { peer.close(promise: nil) }
            context.fireChannelInactive()
        }
    }
}

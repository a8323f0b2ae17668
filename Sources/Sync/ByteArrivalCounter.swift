public import NIOCore
import Synchronization

/// Counts the bytes a peer connection receives, before they are whole lines: a peer link reads
/// it on each tick, and any growth keeps the session alive (`PeerSession.bytesArrived`).
public final class ByteArrivalCounter: ChannelInboundHandler, Sendable {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    let count = Atomic<UInt64>(0)

    public init() {}

    /// Bytes received so far.
    public var bytes: UInt64 { count.load(ordering: .relaxed) }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        count.add(UInt64(unwrapInboundIn(data).readableBytes), ordering: .relaxed)
        context.fireChannelRead(data)
    }
}

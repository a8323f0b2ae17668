public import NIOCore

extension Channel {
    /// Writes one last line (an error: `too_many_connections`, `idle_timeout`, `slow_consumer`, …)
    /// and closes the channel gracefully: once the line is written the node half-closes (the
    /// client reads the line, then end of stream) and drops whatever the client still sends until
    /// it closes its side — closing a socket with unread input makes the kernel send a reset,
    /// which would destroy the answer still in transit. `grace` bounds the whole: after it the
    /// channel is closed whatever the client does. The line goes straight into the pipeline, so
    /// it never waits behind an async writer; the returned future succeeds once the channel is
    /// closed, and the caller need not wait for it.
    @discardableResult
    public func answerThenClose(_ line: [UInt8], grace: TimeAmount = .seconds(2)) -> EventLoopFuture<Void> {
        let closer = eventLoop.scheduleTask(in: grace) { self.close(promise: nil) }
        return writeAndFlush(ByteBuffer(bytes: line))
            .flatMap { self.pipeline.addHandler(InputDiscardingHandler(), position: .first) }
            .flatMap { self.close(mode: .output) }
            .flatMapErrorThrowing { _ in self.close(promise: nil) }  // could not half-close: close now
            .flatMap { self.closeFuture }
            .always { _ in closer.cancel() }
    }
}

/// Drops every byte read and keeps reading until the other side closes, then closes: the last
/// stage of `answerThenClose`. It sits first in the pipeline, so the decoders and the async
/// channel's backpressure behind it see nothing more.
final class InputDiscardingHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func handlerAdded(context: ChannelHandlerContext) {
        context.read()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    func channelReadComplete(context: ChannelHandlerContext) {
        context.read()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

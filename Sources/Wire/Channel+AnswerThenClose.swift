public import NIOCore

extension Channel {
    /// Writes one last line (an error: `too_many_connections`, `idle_timeout`, …) and closes the
    /// channel once the line is written, or after `grace` if the other end does not take it. The
    /// line goes straight into the pipeline, so it never waits behind an async writer, and the
    /// caller need not wait: the returned future succeeds once the channel is closed.
    @discardableResult
    public func answerThenClose(_ line: [UInt8], grace: TimeAmount = .seconds(2)) -> EventLoopFuture<Void> {
        let closer = eventLoop.scheduleTask(in: grace) { self.close(promise: nil) }
        return writeAndFlush(ByteBuffer(bytes: line))
            .flatMapErrorThrowing { _ in }
            .flatMap {
                closer.cancel()
                return self.close().flatMapErrorThrowing { _ in }
            }
    }
}

public import NIOCore
// TEMPORARY stand-ins until the compression handlers land (passthrough both ways).
public final class PeerDeflateEncoder: ChannelOutboundHandler, @unchecked Sendable {
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer
    let counters: PeerByteCounters
    public init(counters: PeerByteCounters) { self.counters = counters }
    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let n = unwrapOutboundIn(data).readableBytes
        counters.sent(raw: n, wire: n)
        context.write(data, promise: promise)
    }
}
public struct PeerLineDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer
    var base: LineFrameDecoder
    let counters: PeerByteCounters
    public init(maximumLineLength: Int, acceptsCompression: Bool, counters: PeerByteCounters) {
        base = LineFrameDecoder(maximumLineLength: maximumLineLength)
        self.counters = counters
    }
    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let before = buffer.readableBytes
        let r = try base.decode(context: context, buffer: &buffer)
        let n = before - buffer.readableBytes
        counters.received(raw: n, wire: n)
        return r
    }
    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try base.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }
}
public struct InflateError: Error, Sendable {}

import CompressNIO
public import NIOCore

/// Outbound half of peer-link compression (format: PeerCompression.swift).
///
/// Passes writes through unchanged until one is exactly `PeerMessage.compressMarker` (the whole
/// marker line, newline included, in one buffer); that write also goes out uncompressed, and
/// every later write is deflated into the connection's one raw-deflate stream and sync-flushed, so
/// each write (one or more whole lines) can be decoded by the peer as soon as it arrives. Writes
/// must therefore hold whole lines: a flush point inside a line costs bytes, not correctness.
///
/// The zlib stream is released when the handler is removed (which closing the channel does) or on
/// a full close.
public final class PeerDeflateEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    public let counters: PeerByteCounters
    /// zlib level, 1 (fastest) … 9 (smallest).
    public let compressionLevel: Int32
    private var compressor: ZlibCompressor?
    private var released = false

    /// - Parameters:
    ///   - counters: shared with the connection's `PeerLineDecoder`, read by `status`.
    ///   - compressionLevel: 1…9; see Benchmarks/link_compression.py for what each level buys.
    public init(counters: PeerByteCounters = PeerByteCounters(), compressionLevel: Int32 = 6) {
        precondition((1...9).contains(compressionLevel), "compression level must be 1…9")
        self.counters = counters
        self.compressionLevel = compressionLevel
    }

    /// Whether the marker has gone out and later writes are compressed.
    public var isCompressing: Bool { compressor != nil }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var input = Self.unwrapOutboundIn(data)
        guard let compressor else {
            if released {
                promise?.fail(ChannelError.ioOnClosedChannel)
                return
            }
            counters.addSent(raw: input.readableBytes, wire: input.readableBytes)
            if input.readableBytesView.elementsEqual(PeerMessage.compressMarker) {
                do {
                    self.compressor = try ZlibCompressor(
                        algorithm: .deflate,
                        configuration: ZlibConfiguration(windowSize: 15, compressionLevel: compressionLevel, memoryLevel: 8))
                } catch {
                    // Not one byte of the stream has gone out: refuse the marker rather than
                    // announce a stream that cannot follow.
                    promise?.fail(error)
                    context.fireErrorCaught(error)
                    return
                }
            }
            context.write(data, promise: promise)
            return
        }
        // An empty write has nothing to flush (and zlib would report "no progress").
        guard input.readableBytes > 0 else {
            context.write(data, promise: promise)
            return
        }
        let rawCount = input.readableBytes
        do {
            var output = context.channel.allocator.buffer(capacity: compressor.maxSize(from: input))
            try Self.deflateSyncFlushed(&input, into: &output, with: compressor)
            counters.addSent(raw: rawCount, wire: output.readableBytes)
            context.write(Self.wrapOutboundOut(output), promise: promise)
        } catch {
            // The stream is now unusable and the peer would inflate garbage: end the connection.
            self.release()
            promise?.fail(error)
            context.fireErrorCaught(error)
            context.close(promise: nil)
        }
    }

    /// Deflates all of `input` and sync-flushes. deflateBound (+6 for the flush block) is enough in
    /// practice, but zlib does not promise it for Z_SYNC_FLUSH: if the output filled up, give it
    /// more room and call again with the same flush until zlib has nothing pending.
    static func deflateSyncFlushed(_ input: inout ByteBuffer, into output: inout ByteBuffer, with compressor: ZlibCompressor) throws {
        while true {
            if output.writableBytes == 0 { output.reserveCapacity(minimumWritableBytes: max(1024, output.capacity)) }
            let before = output.writerIndex
            do {
                try compressor.deflate(from: &input, to: &output, flush: .sync)
            } catch let error as CompressNIOError where error == .bufferOverflow && input.readableBytes == 0 && output.writerIndex == before {
                return  // Z_BUF_ERROR: nothing was pending any more
            }
            if input.readableBytes == 0 && output.writableBytes > 0 { return }
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode == .all { release() }
        context.close(mode: mode, promise: promise)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        release()
    }

    private func release() {
        compressor = nil  // ZlibCompressor's deinit calls deflateEnd
        released = true
    }
}

@available(*, unavailable)
extension PeerDeflateEncoder: Sendable {}

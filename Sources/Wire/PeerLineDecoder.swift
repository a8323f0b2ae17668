import CompressNIO
public import NIOCore

/// Inbound half of peer-link compression (format and bounds: PeerCompression.swift): splits a
/// peer connection into lines like `LineFrameDecoder`, and, after the peer's marker line, into
/// lines of the raw-deflate stream that follows it.
///
/// Before the marker it behaves exactly like `LineFrameDecoder` (one line per `decode`, a `\r`
/// before `\n` dropped, `LineTooLongError` for a line over `maximumLineLength`, an unterminated
/// last line dropped at EOF). The marker line is passed up like any line; if it switches (the
/// decoder `acceptsCompression`, it is the 3rd line or later, and no marker came before), every
/// byte after it — those already read with it included — is deflate input. While inflating,
/// one `decode` passes up every line the bytes at hand complete, since inflating them may empty
/// the input buffer while lines are still pending (and `ByteToMessageHandler` only calls again
/// once more bytes arrive). Each line is still one `channelRead`.
public struct PeerLineDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// At most this many bytes are inflated by one zlib call; lines are cut after each call.
    public static let inflateChunk = 64 * 1024

    public let maximumLineLength: Int
    /// The longest of the first `handshakeLines` lines (the peer's `hello` and `proof`, or an
    /// `error` instead): they arrive before the peer proved who it is, so they are held to a
    /// limit far below `maximumLineLength`, refused as soon as that many bytes are in.
    public let handshakeLineLength: Int
    /// How many lines a session receives before it can be established: `hello`, `proof`.
    public static let handshakeLines = 2
    public let acceptsCompression: Bool
    public let counters: PeerByteCounters

    /// The marker line without its newline, as `cutLine` returns it.
    static let markerLine = PeerMessage.compressMarker.dropLast()

    private var searched = 0
    private var linesCut = 0
    private var markerSeen = false
    private var inflater: ZlibDecompressor?
    /// Inflated bytes not yet cut into lines: at most one pending line (≤ maximumLineLength)
    /// plus the last chunk.
    private var inflated = ByteBuffer()
    private var inflatedSearched = 0
    /// Where each zlib call writes: its capacity (one chunk) bounds the call's output.
    private var chunk = ByteBuffer()
    /// The most inflated bytes held at once (tests check the bound).
    private(set) var peakInflatedBytes = 0

    /// - Parameters:
    ///   - maximumLineLength: the longest line accepted, inflated or not.
    ///   - handshakeLineLength: the longest of the first two lines (nil: `maximumLineLength`).
    ///   - acceptsCompression: whether this side advertised compression in its hello; if not, a
    ///     marker is an ordinary line (the session rejects it).
    ///   - counters: shared with the connection's `PeerDeflateEncoder`, read by `status`.
    public init(
        maximumLineLength: Int, handshakeLineLength: Int? = nil, acceptsCompression: Bool, counters: PeerByteCounters = PeerByteCounters()
    ) {
        self.maximumLineLength = maximumLineLength
        self.handshakeLineLength = min(handshakeLineLength ?? maximumLineLength, maximumLineLength)
        self.acceptsCompression = acceptsCompression
        self.counters = counters
    }

    /// Whether the peer's marker came and its bytes are being inflated.
    public var isInflating: Bool { inflater != nil }

    /// Inflated bytes held that are not yet a whole line.
    public var bufferedInflatedBytes: Int { inflated.readableBytes }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        try decodeLines(&buffer) { context.fireChannelRead(Self.wrapInboundOut($0)) }
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        if try decodeLines(&buffer, { context.fireChannelRead(Self.wrapInboundOut($0)) }) == .continue {
            return .continue
        }
        // A last line without its newline is incomplete: it is dropped, never acted on.
        buffer.moveReaderIndex(to: buffer.writerIndex)
        inflated.clear()
        return .needMoreData
    }

    public mutating func decoderRemoved(context: ChannelHandlerContext) {
        inflater = nil  // ZlibDecompressor's deinit calls inflateEnd
        inflated = ByteBuffer()
        chunk = ByteBuffer()
    }

    /// Passes up (through `emit`) the next line, or, while inflating, every line `buffer`
    /// completes. `.continue`: call again; `.needMoreData`: everything at hand is consumed.
    mutating func decodeLines(_ buffer: inout ByteBuffer, _ emit: (ByteBuffer) -> Void) throws -> DecodingState {
        if inflater == nil {
            let limit = linesCut < Self.handshakeLines ? handshakeLineLength : maximumLineLength
            guard case let (line, consumed)? = try LineFrameDecoder.cutLine(&buffer, searched: &searched, limit: limit) else {
                return .needMoreData
            }
            counters.addReceived(raw: consumed, wire: consumed)
            let isMarker = !markerSeen && line.readableBytesView.elementsEqual(Self.markerLine)
            let switches = isMarker && acceptsCompression && linesCut >= 2
            linesCut += 1
            if isMarker { markerSeen = true }
            if switches {
                do {
                    inflater = try ZlibDecompressor(algorithm: .deflate, windowSize: 15)
                } catch {
                    throw InflateError("cannot start inflating: \(error)")
                }
                chunk = ByteBufferAllocator().buffer(capacity: Self.inflateChunk)
            }
            emit(line)
            guard switches else { return .continue }
        }
        return try inflateLines(&buffer, emit)
    }

    private mutating func inflateLines(_ buffer: inout ByteBuffer, _ emit: (ByteBuffer) -> Void) throws -> DecodingState {
        guard let inflater else { return .needMoreData }
        while true {
            // Throws LineTooLongError as soon as the pending line passes the limit, before any
            // further input is inflated.
            while case let (line, _)? = try LineFrameDecoder.cutLine(&inflated, searched: &inflatedSearched, limit: maximumLineLength) {
                emit(line)
            }
            guard buffer.readableBytes > 0 else { return .needMoreData }
            let inputBefore = buffer.readableBytes
            chunk.clear()
            do {
                try inflater.inflate(from: &buffer, to: &chunk)
                // A normal return with input left means Z_STREAM_END: the stream had a final block,
                // and nothing may follow it (a stream that already ended answers the same way
                // without consuming anything).
                if buffer.readableBytes > 0 { throw InflateError("data after the end of the deflate stream") }
            } catch let error as CompressNIOError where error == .bufferOverflow || error == .inputBufferOverflow {
                // The chunk is full (more output pending), or all input is used: both normal.
            } catch let error as InflateError {
                throw error
            } catch {
                throw InflateError("invalid deflate stream: \(error)")
            }
            let consumed = inputBefore - buffer.readableBytes
            let produced = chunk.readableBytes
            guard consumed > 0 || produced > 0 else { throw InflateError("invalid deflate stream: no progress") }
            counters.addReceived(raw: produced, wire: consumed)
            if produced > 0 {
                if inflated.readerIndex > 0 { inflated.discardReadBytes() }
                inflated.writeBuffer(&chunk)
                peakInflatedBytes = max(peakInflatedBytes, inflated.readableBytes)
            }
        }
    }
}

public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Splits a byte stream into lines at `\n` (a `\r` before it is dropped, so `nc -C` works too),
/// refusing a line longer than `maximumLineLength` bytes.
///
/// NIOCore's `NIOSplitLinesMessageDecoder` also splits at VT, FF and lone CR, which are not line
/// ends in this protocol, and has no per-line limit that the connection can answer with its own
/// error code; hence this decoder. It remembers how far it has searched, so a long line arriving
/// in many reads is scanned once, not once per read.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    public let maximumLineLength: Int
    private var searched = 0

    public init(maximumLineLength: Int) {
        self.maximumLineLength = maximumLineLength
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let line = try nextLine(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(line))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A last line without its newline is incomplete: it is dropped, never acted on.
        if let line = try nextLine(&buffer) {
            context.fireChannelRead(Self.wrapInboundOut(line))
            return .continue
        }
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }

    mutating func nextLine(_ buffer: inout ByteBuffer) throws -> ByteBuffer? {
        try Self.cutLine(&buffer, searched: &searched, limit: maximumLineLength)?.line
    }

    /// Cuts the next line out of `buffer` (without its `\n`, and without a `\r` before it);
    /// `consumed` is the bytes it took from `buffer`. `searched` carries how far an earlier call
    /// looked, so a long line is scanned once. Also used by `PeerLineDecoder`, on raw and on
    /// inflated bytes alike.
    static func cutLine(_ buffer: inout ByteBuffer, searched: inout Int, limit: Int) throws -> (line: ByteBuffer, consumed: Int)? {
        // memchr, not `firstIndex(of:)`: the generic search goes a byte at a time, and a bulk
        // import's megabyte lines made it half of the event loop's time.
        let count = buffer.readableBytes
        let newline: Int? = buffer.withUnsafeReadableBytes { bytes in
            guard searched < bytes.count, let base = bytes.baseAddress,
                let found = memchr(base + searched, Int32(UInt8(ascii: "\n")), bytes.count - searched)
            else { return nil }
            return base.distance(to: UnsafeRawPointer(found))
        }
        if let newline {
            var length = newline
            guard length <= limit else { throw LineTooLongError(limit: limit) }
            searched = 0
            var line = buffer.readSlice(length: length + 1)!
            length -= (length > 0 && line.getInteger(at: line.readerIndex + length - 1, as: UInt8.self) == UInt8(ascii: "\r")) ? 1 : 0
            line = line.getSlice(at: line.readerIndex, length: length)!
            return (line, newline + 1)
        }
        searched = count
        if count > limit { throw LineTooLongError(limit: limit) }
        return nil
    }
}

/// A line exceeded the limit; the connection answers `line_too_long` and closes.
public struct LineTooLongError: Error, Equatable, Sendable {
    public var limit: Int
    public init(limit: Int) { self.limit = limit }
}

import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing
import Wire

@Suite struct LineFrameDecoderTests {
    func buffer(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    /// Fed whole, one byte at a time and in random chunks, the decoder yields the same lines.
    @Test func passesByteToMessageDecoderVerifier() throws {
        let input = "{\"op\":\"status\"}\n\nsecond line\r\nthird\n" + String(repeating: "z", count: 500) + "\n"
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [
                (buffer(input), [buffer("{\"op\":\"status\"}"), buffer(""), buffer("second line"), buffer("third"), buffer(String(repeating: "z", count: 500))]),
                (buffer("a\nb\n"), [buffer("a"), buffer("b")]),
            ],
            decoderFactory: { LineFrameDecoder(maximumLineLength: 1024) })
    }

    @Test func lineLongerThanTheLimitIsRefused() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maximumLineLength: 8)))
        defer { _ = try? channel.finish() }
        try channel.writeInbound(buffer("12345678\n"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == buffer("12345678"))
        #expect(throws: LineTooLongError(limit: 8)) { try channel.writeInbound(buffer("123456789\n")) }
    }

    /// A line that never ends is refused as soon as it passes the limit, without waiting for its
    /// newline, so a peer cannot make the node buffer without bound.
    @Test func unterminatedOversizeLineIsRefusedBeforeItsEnd() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maximumLineLength: 16)))
        defer { _ = try? channel.finish() }
        try channel.writeInbound(buffer("0123456789"))
        #expect(throws: LineTooLongError(limit: 16)) { try channel.writeInbound(buffer("0123456789")) }
    }

    @Test func incompleteLastLineAtEOFIsDropped() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maximumLineLength: 64)))
        try channel.writeInbound(buffer("done\nhalf a li"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == buffer("done"))
        _ = try channel.finish()
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
    }
}

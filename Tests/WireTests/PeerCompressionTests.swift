import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing
@testable import Wire

/// PeerDeflateEncoder → PeerLineDecoder: the in-band switch, per-message sync flush and the
/// receiver's bounds (format: Sources/Wire/PeerCompression.swift).
@Suite struct PeerCompressionTests {
    static let hello = "{\"type\":\"hello\",\"version\":1,\"node\":\"gao\",\"public_key\":\"AAAA\",\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"vector\":{}}\n"
    static let proof = "{\"type\":\"proof\",\"sig\":\"AAAA\"}\n"
    static let marker = String(decoding: PeerMessage.compressMarker, as: UTF8.self)

    /// A realistic, repetitive `events` message of `count` events starting at `seq`.
    static func eventsMessage(seq: Int, count: Int) -> String {
        var events: [String] = []
        for i in seq..<(seq + count) {
            events.append(
                "{\"id\":\"gao:\(i)\",\"origin\":\"gao\",\"seq\":\(i),\"prev\":\"\(String(repeating: "ab", count: 32))\","
                    + "\"type\":\"incident.opened\",\"ts\":\"2026-01-01T00:00:\(i % 60)Z\",\"data\":{\"incident\":\"inc-\(i % 17)\","
                    + "\"title\":\"disk full on host-\(i % 9)\",\"severity\":\"sev\(i % 3 + 1)\"},\"hash\":\"\(String(repeating: "cd", count: 32))\"}")
        }
        return "{\"type\":\"events\",\"events\":[" + events.joined(separator: ",") + "]}\n"
    }

    func buffer(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

    func line(_ s: String) -> ByteBuffer { ByteBuffer(string: String(s.dropLast())) }  // without "\n"

    /// What the encoder puts on the wire for one write.
    func send(_ sender: EmbeddedChannel, _ message: String) throws -> ByteBuffer {
        try sender.writeOutbound(buffer(message))
        var wire = ByteBuffer()
        while var part = try sender.readOutbound(as: ByteBuffer.self) { wire.writeBuffer(&part) }
        return wire
    }

    func receiver(acceptsCompression: Bool = true, limit: Int = 1 << 20, counters: PeerByteCounters = PeerByteCounters()) -> EmbeddedChannel {
        EmbeddedChannel(handler: ByteToMessageHandler(PeerLineDecoder(maximumLineLength: limit, acceptsCompression: acceptsCompression, counters: counters)))
    }

    func readAll(_ channel: EmbeddedChannel) throws -> [ByteBuffer] {
        var lines: [ByteBuffer] = []
        while let l = try channel.readInbound(as: ByteBuffer.self) { lines.append(l) }
        return lines
    }

    /// Plain input, fed whole, byte by byte and in random chunks, is split exactly as
    /// LineFrameDecoder splits it (NIOTestUtils' verifier, which replays the same input into one
    /// decoder many times, so it cannot carry a once-per-connection deflate stream; the drip-feed
    /// of compressed input is in bytesReadWithTheMarkerAndManyLinesPerWriteAreDecoded).
    @Test func passesByteToMessageDecoderVerifier() throws {
        let plain = "{\"op\":\"status\"}\n\nsecond line\r\nthird\n" + String(repeating: "z", count: 500) + "\n"
        let plainLines = ["{\"op\":\"status\"}", "", "second line", "third", String(repeating: "z", count: 500)].map(buffer)
        for accepts in [false, true] {
            try ByteToMessageDecoderVerifier.verifyDecoder(
                inputOutputPairs: [(buffer(plain), plainLines), (buffer("a\nb\n"), [buffer("a"), buffer("b")])],
                decoderFactory: { PeerLineDecoder(maximumLineLength: 1024, acceptsCompression: accepts) })
        }
    }

    @Test func markerMessageIsExactlyTheMarkerLine() throws {
        #expect(PeerMessage.compress(algorithm: "deflate").encoded == PeerMessage.compressMarker)
        #expect(try PeerMessage.parse(Array(PeerMessage.compressMarker.dropLast())) == .compress(algorithm: "deflate"))
    }

    /// hello and proof go out as they are, the marker too; every later message is compressed, and
    /// the receiver passes up each one as soon as that message's own bytes arrived.
    @Test func roundTripDecodesEachMessageAsSoonAsItArrives() throws {
        let sent = PeerByteCounters(), received = PeerByteCounters()
        let sender = EmbeddedChannel(handler: PeerDeflateEncoder(counters: sent))
        let receiver = receiver(counters: received)
        defer { _ = try? sender.finish(); _ = try? receiver.finish() }

        var raw = 0, wire = 0
        for message in [Self.hello, Self.proof, Self.marker] {
            let bytes = try send(sender, message)
            #expect(bytes == buffer(message), "before and including the marker, bytes go out unchanged")
            try receiver.writeInbound(bytes)
            #expect(try readAll(receiver) == [line(message)])
            raw += message.utf8.count
            wire += bytes.readableBytes
        }
        var compressedRaw = 0, compressedWire = 0
        for i in 0..<200 {
            let message = i % 10 == 9 ? "{\"type\":\"ping\"}\n" : Self.eventsMessage(seq: i * 4, count: 4)
            let bytes = try send(sender, message)
            #expect(bytes != buffer(message))
            // A sync-flushed deflate write ends with the empty stored block 00 00 ff ff.
            #expect(Array(bytes.readableBytesView.suffix(4)) == [0, 0, 0xff, 0xff])
            try receiver.writeInbound(bytes)
            #expect(try readAll(receiver) == [line(message)], "message \(i) must decode with no later bytes")
            compressedRaw += message.utf8.count
            compressedWire += bytes.readableBytes
        }
        raw += compressedRaw
        wire += compressedWire
        #expect(compressedWire * 4 < compressedRaw, "repetitive JSON compresses: \(compressedWire) of \(compressedRaw)")
        #expect(sent.rawSent == UInt64(raw) && sent.wireSent == UInt64(wire))
        #expect(received.rawReceived == UInt64(raw) && received.wireReceived == UInt64(wire))
    }

    /// Several lines in one write, and bytes that came in the same read as the marker, are all
    /// decoded; so is the whole conversation fed one byte at a time.
    @Test func bytesReadWithTheMarkerAndManyLinesPerWriteAreDecoded() throws {
        let sender = EmbeddedChannel(handler: PeerDeflateEncoder())
        defer { _ = try? sender.finish() }
        let batch = Self.eventsMessage(seq: 1, count: 2) + "{\"type\":\"ping\"}\n" + Self.eventsMessage(seq: 3, count: 1)
        var wire = ByteBuffer()
        for message in [Self.hello, Self.proof, Self.marker, batch, "{\"type\":\"pong\"}\n"] {
            var bytes = try send(sender, message)
            wire.writeBuffer(&bytes)
        }
        let expected = [Self.hello, Self.proof, Self.marker, Self.eventsMessage(seq: 1, count: 2), "{\"type\":\"ping\"}\n",
                        Self.eventsMessage(seq: 3, count: 1), "{\"type\":\"pong\"}\n"].map(line)

        let whole = receiver()
        defer { _ = try? whole.finish() }
        try whole.writeInbound(wire)
        #expect(try readAll(whole) == expected)

        let byByte = receiver()
        defer { _ = try? byByte.finish() }
        var got: [ByteBuffer] = []
        for byte in wire.readableBytesView {
            try byByte.writeInbound(ByteBuffer(bytes: [byte]))
            got += try readAll(byByte)
        }
        #expect(got == expected)
    }

    /// Without the sync flush after each write, zlib keeps the message in its own buffers and the
    /// receiver gets nothing until later data pushes it out; this fails then.
    @Test func aMessageDecodesWithoutAnythingSentAfterIt() throws {
        let sender = EmbeddedChannel(handler: PeerDeflateEncoder())
        let receiver = receiver()
        defer { _ = try? sender.finish(); _ = try? receiver.finish() }
        for message in [Self.hello, Self.proof, Self.marker] {
            try receiver.writeInbound(try send(sender, message))
        }
        _ = try readAll(receiver)
        let message = Self.eventsMessage(seq: 7, count: 3)
        let bytes = try send(sender, message)
        #expect(bytes.readableBytes > 0)
        try receiver.writeInbound(bytes)
        #expect(try receiver.readInbound(as: ByteBuffer.self) == line(message))
        #expect(try receiver.readInbound(as: ByteBuffer.self) == nil)
    }

    /// A message that inflates past one 64 KiB chunk and ends in a long run (long matches that
    /// zlib finishes copying only on its next call): once all its bytes are in, every line is
    /// out, though zlib has consumed all input while output was still pending. Without the
    /// drain call, the end of the message waited for the peer's next bytes (its ping, 5 s on).
    @Test(arguments: [65_000, 65_300, 65_500, 65_536, 100_000, 131_000])
    func aMessageThatInflatesPastAChunkIsDecodedWhole(before: Int) throws {
        let sender = EmbeddedChannel(handler: PeerDeflateEncoder(compressionLevel: 9))
        let receiver = receiver()
        defer { _ = try? sender.finish(); _ = try? receiver.finish() }
        for message in [Self.hello, Self.proof, Self.marker] {
            try receiver.writeInbound(try send(sender, message))
        }
        _ = try readAll(receiver)
        // Lines of pseudo-random hex (little to match) up to `before` bytes, then a run of one byte.
        var rng = SystemRandomNumberGenerator()
        var text = ""
        while text.utf8.count < before {
            text += (0..<60).map { _ in String(UInt8.random(in: 0...15, using: &rng), radix: 16) }.joined() + "\n"
        }
        text += String(repeating: "a", count: 3000) + "\n"
        let sent = text.split(separator: "\n").count
        try receiver.writeInbound(try send(sender, text))
        #expect(try readAll(receiver).count == sent)
    }

    /// The encoder switches only on a write that is exactly the marker line.
    @Test func encoderSwitchesOnlyOnExactlyTheMarker() throws {
        let encoder = PeerDeflateEncoder()
        let sender = EmbeddedChannel(handler: encoder)
        defer { _ = try? sender.finish() }
        for message in [Self.hello, String(Self.marker.dropLast()), Self.marker + Self.proof, " " + Self.marker] {
            #expect(try send(sender, message) == buffer(message))
        }
        #expect(!encoder.isCompressing)
        #expect(try send(sender, Self.marker) == buffer(Self.marker))
        #expect(encoder.isCompressing)
        #expect(try send(sender, Self.proof) != buffer(Self.proof))
        // Closing the connection releases the zlib stream.
        try sender.close().wait()
        #expect(!encoder.isCompressing)
    }

    /// A marker as 1st or 2nd line, or to a decoder that does not accept compression, is passed up
    /// as a line and what follows stays plain; so does a second marker after an early one.
    @Test func markerTooEarlyOrNotAcceptedDoesNotSwitch() throws {
        let ping = "{\"type\":\"ping\"}\n"
        let cases: [(accepts: Bool, lines: [String])] = [
            (true, [Self.marker, ping, ping]),
            (true, [Self.hello, Self.marker, ping, ping]),
            (true, [Self.hello, Self.marker, Self.marker, ping]),  // the early marker counts: no switch later
            (false, [Self.hello, Self.proof, Self.marker, ping, ping]),
        ]
        for (accepts, lines) in cases {
            let channel = receiver(acceptsCompression: accepts)
            defer { _ = try? channel.finish() }
            try channel.writeInbound(buffer(lines.joined()))
            #expect(try readAll(channel) == lines.map(line), "accepts \(accepts): \(lines.count) lines")
        }
        // Control: with the marker as 3rd line an accepting decoder does switch, and the plain
        // lines after it are read as deflate (an error, or garbage), not passed up as they are.
        let lines = [Self.hello, Self.proof, Self.marker, ping, ping]
        let channel = receiver()
        defer { _ = try? channel.finish() }
        do {
            try channel.writeInbound(buffer(lines.joined()))
            #expect(try readAll(channel) != lines.map(line))
        } catch {
            #expect(error is InflateError)
        }
    }

    @Test func garbageAfterTheMarkerThrowsInflateError() throws {
        let channel = receiver()
        defer { _ = try? channel.finish() }
        try channel.writeInbound(buffer(Self.hello + Self.proof + Self.marker))
        #expect(try readAll(channel).count == 3)
        #expect(throws: InflateError.self) {
            try channel.writeInbound(ByteBuffer(bytes: [0xff, 0xfe, 0x00, 0x13, 0x37, 0x42, 0x42, 0x42]))
        }
    }

    /// 64 MiB of 'a' without a newline deflates to ~64 KiB; a decoder limited to 16 MiB lines
    /// refuses it once the pending line passes 16 MiB, holding at most the limit plus one chunk,
    /// and leaves the rest of the input uninflated.
    @Test func compressionBombIsRefusedWithinTheLineLimit() throws {
        let limit = 16 << 20
        let sender = EmbeddedChannel(handler: PeerDeflateEncoder(compressionLevel: 9))
        defer { _ = try? sender.finish() }
        var wire = ByteBuffer()
        for message in [Self.hello, Self.proof, Self.marker] {
            var bytes = try send(sender, message)
            wire.writeBuffer(&bytes)
        }
        let mebibyteOfA = String(repeating: "a", count: 1 << 20)
        for _ in 0..<64 {
            var bytes = try send(sender, mebibyteOfA)  // built a MiB at a time: the test stays small
            wire.writeBuffer(&bytes)
        }
        #expect(wire.readableBytes < 1 << 20, "the bomb is small on the wire: \(wire.readableBytes)")

        let counters = PeerByteCounters()
        var decoder = PeerLineDecoder(maximumLineLength: limit, acceptsCompression: true, counters: counters)
        var lines: [ByteBuffer] = []
        var thrown: (any Error)?
        // Fed in 4 KiB reads, as a socket would deliver it.
        feeding: while wire.readableBytes > 0 {
            var read = wire.readSlice(length: min(4096, wire.readableBytes))!
            do {
                while try decoder.decodeLines(&read, { lines.append($0) }) == .continue {}
            } catch {
                thrown = error
                break feeding
            }
        }
        #expect(lines.count == 3)
        #expect(thrown as? LineTooLongError == LineTooLongError(limit: limit))
        #expect(decoder.peakInflatedBytes > limit)
        #expect(decoder.peakInflatedBytes <= limit + PeerLineDecoder.inflateChunk)
        #expect(counters.rawReceived <= UInt64(limit + PeerLineDecoder.inflateChunk + 4096))
        #expect(wire.readableBytes > 0, "input after the refusal is never inflated")
    }

    /// The same refusal through ByteToMessageHandler, as the pipeline sees it.
    @Test func oversizeInflatedLineThrowsLineTooLongInThePipeline() throws {
        let sender = EmbeddedChannel(handler: PeerDeflateEncoder())
        defer { _ = try? sender.finish() }
        var wire = ByteBuffer()
        for message in [Self.hello, Self.proof, Self.marker, String(repeating: "a", count: 300_000)] {
            var bytes = try send(sender, message)
            wire.writeBuffer(&bytes)
        }
        let channel = receiver(limit: 100_000)
        defer { _ = try? channel.finish() }
        #expect(throws: LineTooLongError(limit: 100_000)) { try channel.writeInbound(wire) }
    }

    /// An inflated line without its newline at EOF is dropped, as LineFrameDecoder drops a plain one.
    @Test func incompleteInflatedLastLineIsDroppedAtEOF() throws {
        let sender = EmbeddedChannel(handler: PeerDeflateEncoder())
        defer { _ = try? sender.finish() }
        var wire = ByteBuffer()
        for message in [Self.hello, Self.proof, Self.marker, "{\"type\":\"ping\"}\n{\"type\":\"po"] {
            var bytes = try send(sender, message)
            wire.writeBuffer(&bytes)
        }
        let channel = receiver()
        try channel.writeInbound(wire)
        _ = try channel.finish()
        #expect(try readAll(channel) == [Self.hello, Self.proof, Self.marker, "{\"type\":\"ping\"}\n"].map(line))
    }
}

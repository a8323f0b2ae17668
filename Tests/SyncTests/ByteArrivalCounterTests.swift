import NIOCore
import NIOEmbedded
import Sync
import Testing

@Suite struct ByteArrivalCounterTests {
    @Test func countsEveryByteAndPassesItOn() throws {
        let counter = ByteArrivalCounter()
        let channel = EmbeddedChannel(handler: counter)
        #expect(counter.bytes == 0)
        try channel.writeInbound(ByteBuffer(string: "{\"type\":\"ev"))  // half a line
        #expect(counter.bytes == 11)
        try channel.writeInbound(ByteBuffer(string: "ents\"}\n"))
        #expect(counter.bytes == 18)
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "{\"type\":\"ev"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "ents\"}\n"))
        _ = try channel.finish()
    }
}

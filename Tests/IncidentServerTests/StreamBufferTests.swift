import Testing

@testable import IncidentHTTP

/// The event stream's buffer (`StreamBuffer`) hands the response whole frames: when a slow reader
/// is dropped, what it already got ends on a frame's end, and the error frame follows.
@Suite struct StreamBufferTests {
    static func frame(_ n: Int, length: Int) -> [UInt8] {
        let head = Array("id: \(n)\nevent: stored\ndata: ".utf8)
        return head + [UInt8](repeating: UInt8(ascii: "x"), count: max(0, length - head.count - 2)) + Array("\n\n".utf8)
    }

    @Test func aChunkIsWholeFramesSoADropNeverTearsOne() async {
        let buffer = StreamBuffer(limit: 1 << 20)
        var pushed: [[UInt8]] = []
        for n in 0..<40 {
            let f = Self.frame(n, length: 700 + (n * 379) % 3000)
            pushed.append(f)
            buffer.push(f)
        }
        // One long frame, more than a chunk by itself: it is taken whole.
        let long = Self.frame(40, length: 5000)
        pushed.append(long)
        buffer.push(long)
        var got: [UInt8] = []
        for _ in 0..<4 {
            let chunk = await buffer.take(maximum: 4096) ?? []
            #expect(chunk.count <= 4096)
            got += chunk
        }
        let final = Array("event: error\ndata: {\"code\":\"slow_consumer\"}\n\n".utf8)
        buffer.drop(final: final)
        while let chunk = await buffer.take(maximum: 4096) { got += chunk }
        // What was got is a run of whole frames from the first, then the error frame.
        #expect(got.count > final.count)
        let before = Array(got.dropLast(final.count))
        #expect(got.suffix(final.count).elementsEqual(final))
        var whole: [UInt8] = []
        var frames = 0
        while whole.count < before.count {
            whole += pushed[frames]
            frames += 1
        }
        #expect(whole.count == before.count, "the reader's bytes end inside frame \(frames - 1)")
        #expect(whole.elementsEqual(before))
        #expect(frames < pushed.count)

        let rest = StreamBuffer(limit: 1 << 20)
        rest.push(long)
        let taken = await rest.take(maximum: 4096) ?? []
        #expect(taken.count == long.count, "a frame longer than a chunk is taken whole")
    }
}

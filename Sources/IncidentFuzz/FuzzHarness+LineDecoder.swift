import NIOCore
import IncidentModel
import NIOEmbedded
import Wire

extension FuzzHarness {
    /// Feeds the input through `ByteToMessageHandler(LineFrameDecoder)` in an `EmbeddedChannel` —
    /// the same pipeline as a connection — once with a small limit that the input can exceed and
    /// once with one it cannot, each time whole or in up to 17 chunks cut where the input's hash
    /// says. Each run must yield exactly the lines of `expectedFrames` and fail with
    /// `LineTooLongError` exactly when the model says so: the chunking must never change what the
    /// decoder delivers.
    static func lineDecoder(_ input: UnsafeBufferPointer<UInt8>) throws(PropertyViolation) {
        var rng = ChunkRandom.generator(seed: input)
        let smallLimit = Int(rng.next() % 48) + 1
        for limit in [smallLimit, max(input.count, 1)] {
            // One channel per limit rather than one per way of cutting, to keep executions cheap;
            // across inputs the hash gives whole runs and cut ones alike.
            let ends = chunkEnds(count: input.count, random: &rng)
            try checkDecoder(input, limit: limit, ends: ends, expected: expectedFrames(input, limit: limit))
        }
    }

    /// What the decoder must deliver: every complete line up to the first one longer than
    /// `limit` (counting a `\r` before its `\n`); a longer line, or an unfinished tail longer than
    /// `limit`, is an error; an unfinished tail within the limit is silently dropped at EOF.
    static func expectedFrames(_ input: UnsafeBufferPointer<UInt8>, limit: Int) -> (lines: [[UInt8]], tooLong: Bool) {
        var lines: [[UInt8]] = []
        var start = 0
        for i in 0..<input.count where input[i] == UInt8(ascii: "\n") {
            guard i - start <= limit else { return (lines, true) }
            lines.append(stripCR(input[start..<i]))
            start = i + 1
        }
        return (lines, input.count - start > limit)
    }

    private static func checkDecoder(
        _ input: UnsafeBufferPointer<UInt8>, limit: Int, ends: [Int], expected: (lines: [[UInt8]], tooLong: Bool)
    ) throws(PropertyViolation) {
        let how = "limit \(limit), chunks ending at \(ends)"
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maximumLineLength: limit)))
        var lines: [[UInt8]] = []
        var failure: (any Error)? = nil
        func drain() {
            while let line = try? channel.readInbound(as: ByteBuffer.self) {
                lines.append(Array(line.readableBytesView))
            }
        }
        var offset = 0
        for end in ends {
            var buffer = channel.allocator.buffer(capacity: end - offset)
            buffer.writeBytes(UnsafeBufferPointer(rebasing: input[offset..<end]))
            offset = end
            do {
                try channel.writeInbound(buffer)
            } catch {
                failure = error
                break
            }
            drain()
        }
        drain()
        if failure == nil {
            do {
                _ = try channel.finish()
            } catch {
                failure = error
            }
            drain()
        } else {
            _ = try? channel.finish()
        }
        if let failure {
            try require(
                failure as? LineTooLongError == LineTooLongError(limit: limit), "decoder",
                "\(how): unexpected error \(failure)")
        }
        try require(
            (failure != nil) == expected.tooLong, "decoder",
            "\(how): line_too_long \(failure != nil), expected \(expected.tooLong)")
        try require(
            lines == expected.lines, "decoder",
            "\(how): \(lines.count) lines, expected \(expected.lines.count): \(lines.map(show))")
    }

    /// Where the chunks of a run end: none to `maximumCuts` cuts at offsets drawn from the
    /// input's hash, so that a run costs a few channel reads however long the input is.
    static func chunkEnds(count: Int, random: inout SplitMix64) -> [Int] {
        guard count > 1 else { return [count] }
        var ends: Set<Int> = [count]
        for _ in 0..<min(count - 1, Int(random.next() % UInt64(maximumCuts + 1))) {
            let cut = Int(random.next() % UInt64(count - 1)) + 1
            ends.insert(cut)
            // Every other cut gets a second one a byte later: one-byte reads (a lone `\r`, a
            // lone `\n`) are where a line splitter goes wrong.
            if random.next() % 2 == 0, cut + 1 < count { ends.insert(cut + 1) }
        }
        return ends.sorted()
    }

    static let maximumCuts = 8
}

/// SplitMix64 seeded with the input's FNV-1a hash: chunk sizes that are random-looking but the
/// same on every run of the same input, so a crash reproduces.
enum ChunkRandom {
    static func generator(seed input: UnsafeBufferPointer<UInt8>) -> SplitMix64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in input { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return SplitMix64(seed: h)
    }
}

/// Every harness of the fuzz target, over one input: the line decoder gets the raw bytes, and
/// each line of the input (split at `\n`, a `\r` before it dropped, as the decoder does) goes to
/// the client-request, peer-message, event, validator and JSON round-trip harnesses.
///
/// A harness never judges whether an input is accepted — hostile bytes are meant to be refused —
/// only that nothing traps and that what *is* accepted keeps the parser's promises (round trips,
/// idempotent canonical form, byte-exact event slices). A broken promise is a `PropertyViolation`;
/// the libFuzzer entry point turns it into a crash, the corpus test into a failed expectation.
public enum FuzzHarness {
    /// A promise that did not hold for an input.
    public struct PropertyViolation: Error, Sendable, CustomStringConvertible {
        public var harness: String
        public var message: String
        public var description: String { "\(harness): \(message)" }
    }

    /// The largest request a client-request harness accepts as an `append`; small, so that the
    /// `too_many_events` refusal is reachable within a short input.
    static let maximumEvents = 8

    /// Runs every harness; returns what the input's lines were accepted as (`request.read`,
    /// `peer.hello`, `event.hash_valid`, `validator.intel.sighting`, …), so the corpus test can
    /// check that the seeds still reach every parser's accepting paths.
    @discardableResult
    public static func run(_ input: UnsafeBufferPointer<UInt8>) throws(PropertyViolation) -> Set<String> {
        var accepted: Set<String> = []
        try lineDecoder(input)
        for line in lines(of: input) {
            try line.withUnsafeBufferPointer { buffer throws(PropertyViolation) in
                try clientRequest(buffer, accepted: &accepted)
                try peerMessage(buffer, accepted: &accepted)
                try event(buffer, accepted: &accepted)
                try validator(buffer, accepted: &accepted)
                try jsonRoundTrip(buffer, accepted: &accepted)
            }
        }
        return accepted
    }

    /// Convenience for tests and the replay tool.
    @discardableResult
    public static func run(_ input: [UInt8]) throws(PropertyViolation) -> Set<String> {
        try input.withUnsafeBufferPointer { buffer throws(PropertyViolation) in try run(buffer) }
    }

    /// The input cut at `\n` with a `\r` before it dropped; a last line without its newline is
    /// included too (the parsers must survive it even though the decoder would not deliver it).
    static func lines(of input: UnsafeBufferPointer<UInt8>) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var start = 0
        for i in 0..<input.count where input[i] == UInt8(ascii: "\n") {
            lines.append(stripCR(input[start..<i]))
            start = i + 1
        }
        if start < input.count { lines.append(Array(input[start...])) }
        return lines
    }

    static func stripCR(_ line: Slice<UnsafeBufferPointer<UInt8>>) -> [UInt8] {
        line.last == UInt8(ascii: "\r") ? Array(line.dropLast()) : Array(line)
    }

    static func require(
        _ condition: @autoclosure () -> Bool, _ harness: String, _ message: @autoclosure () -> String
    ) throws(PropertyViolation) {
        guard condition() else { throw PropertyViolation(harness: harness, message: message()) }
    }

    /// Printable form of bytes for a violation message.
    static func show(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: bytes.prefix(300), as: UTF8.self).debugDescription + (bytes.count > 300 ? "…" : "")
    }
}

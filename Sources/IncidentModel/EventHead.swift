/// The first two members of a stored event line, `origin` and `seq`, read without parsing the
/// rest. A peer link sending its log only needs these to skip what the peer already holds; the
/// line itself goes out as stored, and the receiver parses and verifies all of it.
public struct EventHead: Sendable, Equatable {
    public let origin: String
    public let seq: UInt64

    /// Nil when the line does not start `{"origin":"…","seq":N,` (see `Event.parse` for the rest).
    public init?(line: [UInt8]) {
        let head: (String, UInt64)? = line.withUnsafeBufferPointer { buffer in
            var s = EnvelopeScanner(bytes: buffer)
            do throws(EventParseError) {
                try s.literal("{\"origin\":")
                let origin = try s.string()
                try s.literal(",\"seq\":")
                let seq = try s.unsigned()
                try s.literal(",")
                return (origin, seq)
            } catch {
                return nil
            }
        }
        guard let head else { return nil }
        (origin, seq) = head
    }
}

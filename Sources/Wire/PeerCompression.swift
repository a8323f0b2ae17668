import Synchronization

// Per-session, per-direction streaming compression of the peer protocol (links are 64 kbit/s).
//
// Format (normative text goes to docs/PROTOCOL.md, "Peer protocol"):
//
// - A side that compresses (it does so only if the peer's hello said it accepts compression)
//   writes, right after its `proof` line, the marker line
//
//       {"type":"compress","algorithm":"deflate"}\n          (`PeerMessage.compressMarker`)
//
//   uncompressed. The byte after that newline starts ONE raw-deflate stream (RFC 1951, zlib
//   windowBits -15: no zlib or gzip header, no trailer) that carries everything that side writes
//   for the rest of the connection. The stream is never finished: the connection's end ends it.
// - Each write (one or more whole lines, e.g. one message) is deflated and followed by a
//   Z_SYNC_FLUSH (an empty stored block, `00 00 ff ff`), so the receiver can inflate and act on
//   every message as soon as its bytes arrive: compression adds no latency, and a message never
//   waits for later data.
// - Only the direction that sent the marker is compressed; each direction decides on its own.
// - A receiver switches to inflating only on a line byte-equal to the marker (a `\r` before the
//   `\n` is dropped as for any line), and only if it accepts compression, the marker is the 3rd
//   line of the connection or later (after hello and proof), and no marker came before. Anything
//   else that looks like a marker is passed up as an ordinary line, which the session rejects.
//   The marker line itself is always passed up, so the session sees the switch.
//
// Bounds on the receiver (`PeerLineDecoder`): it inflates at most `PeerLineDecoder.inflateChunk`
// bytes per zlib call and cuts lines after each call, so it holds at most `maximumLineLength`
// plus one chunk of inflated bytes, however well the input compresses (10 MB of one byte
// deflates to ~10 KB). A pending line over `maximumLineLength` throws `LineTooLongError` at once,
// without inflating further; a corrupt stream, or any byte after a final deflate block, throws
// `InflateError`.
//
// Stable error codes the session answers with: `LineTooLongError` → `line_too_long`,
// `InflateError` → `invalid_compression`.

/// Byte counts of one peer connection, shared by its `PeerDeflateEncoder` and `PeerLineDecoder`
/// (pass the same instance to both), for `status`: raw is protocol bytes (lines with their
/// newlines), wire is bytes on the connection. Before the marker, and in a direction that does not
/// compress, raw and wire grow alike. Received bytes are counted as the decoder consumes them
/// (a line when it is complete, compressed input when it is inflated). Safe to read from any thread.
public final class PeerByteCounters: Sendable {
    private let _rawSent = Atomic<UInt64>(0)
    private let _wireSent = Atomic<UInt64>(0)
    private let _rawReceived = Atomic<UInt64>(0)
    private let _wireReceived = Atomic<UInt64>(0)

    public init() {}

    /// Protocol bytes handed to the encoder.
    public var rawSent: UInt64 { _rawSent.load(ordering: .relaxed) }
    /// Bytes the encoder wrote to the connection.
    public var wireSent: UInt64 { _wireSent.load(ordering: .relaxed) }
    /// Protocol bytes the decoder produced (lines, newlines included).
    public var rawReceived: UInt64 { _rawReceived.load(ordering: .relaxed) }
    /// Bytes the decoder consumed from the connection.
    public var wireReceived: UInt64 { _wireReceived.load(ordering: .relaxed) }

    func addSent(raw: Int, wire: Int) {
        _rawSent.wrappingAdd(UInt64(raw), ordering: .relaxed)
        _wireSent.wrappingAdd(UInt64(wire), ordering: .relaxed)
    }

    func addReceived(raw: Int, wire: Int) {
        if raw > 0 { _rawReceived.wrappingAdd(UInt64(raw), ordering: .relaxed) }
        if wire > 0 { _wireReceived.wrappingAdd(UInt64(wire), ordering: .relaxed) }
    }
}

/// The compressed half of a peer connection is not a valid raw-deflate stream (or has data after
/// a final block). The session answers `invalid_compression` and closes.
public struct InflateError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public import IncidentModel

/// Cuts the stored event lines out of a `read` response without re-encoding them, so that
/// `incidentctl export` prints the bytes the node holds, exactly.
public enum RawEvents {
    static let prefix = Array("{\"ok\":true,\"events\":[".utf8)

    /// The event lines of a `read` response and its `next` offset.
    public static func split(readResponse line: [UInt8]) throws -> (lines: [[UInt8]], next: UInt64) {
        guard line.starts(with: prefix) else {
            _ = try IncidentConnection.decode(line)  // throws the node's error, if that is what it is
            throw ClientError.protocolError("unexpected read response")
        }
        return try line.withUnsafeBufferPointer { buffer in
            var lines: [[UInt8]] = []
            var i = prefix.count
            if buffer[i] != UInt8(ascii: "]") {
                while true {
                    let end = try JSONParser.skipValue(in: buffer, from: i)
                    lines.append(Array(buffer[i..<end]))
                    guard end < buffer.count else { throw ClientError.protocolError("truncated read response") }
                    i = end + 1
                    if buffer[end] == UInt8(ascii: "]") { break }
                    guard buffer[end] == UInt8(ascii: ",") else { throw ClientError.protocolError("malformed read response") }
                }
            } else {
                i += 1
            }
            // What follows the array is `,"next":N}`.
            guard i < buffer.count, buffer[i] == UInt8(ascii: ",") else { throw ClientError.protocolError("malformed read response") }
            let rest = try JSONParser.parse(Array("{".utf8) + Array(buffer[(i + 1)...]))
            guard let next = rest["next"]?.integerValue else { throw ClientError.protocolError("read response without next") }
            return (lines, UInt64(next))
        }
    }
}

extension IncidentConnection {
    /// Reads the stored lines from `offset` to the end of the log, a page (`read` of `limit`) at
    /// a time, handing each page to `body` as it arrives; with `beyond`, only events that vector
    /// lacks. Returns how many lines were read.
    @discardableResult
    public func readStoredLines(
        from offset: UInt64 = 0, limit: Int = 1000, beyond: VersionVector? = nil, _ body: ([[UInt8]]) throws -> Void
    ) async throws -> Int {
        var next = offset
        var count = 0
        while true {
            try await send(Requests.read(from: next, limit: limit, beyond: beyond))
            let (lines, after) = try RawEvents.split(readResponse: try await receive())
            // With `beyond`, a page may hold nothing the vector lacks and still move on.
            if lines.isEmpty && after == next { return count }
            try body(lines)
            count += lines.count
            next = after
        }
    }

    /// Every stored line from `offset` on, as stored.
    public func storedLines(from offset: UInt64 = 0) async throws -> [[UInt8]] {
        var all: [[UInt8]] = []
        try await readStoredLines(from: offset) { all += $0 }
        return all
    }
}

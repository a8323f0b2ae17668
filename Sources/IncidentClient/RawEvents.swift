import IncidentModel

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

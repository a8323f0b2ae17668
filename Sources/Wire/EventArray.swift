import IncidentModel

/// Cuts the elements of `…[<event>,<event>]}` out of a message by their byte ranges, so that
/// event lines travel inside messages without ever being re-encoded.
enum EventArray {
    /// `line` is a message whose first `prefixLength` bytes end with `[`; after the array only `}` may follow.
    static func split(_ line: [UInt8], prefixLength: Int) throws(PeerMessage.ParseError) -> [[UInt8]] {
        try line.withUnsafeBufferPointer { buffer throws(PeerMessage.ParseError) in
            var lines: [[UInt8]] = []
            var i = prefixLength
            guard i < buffer.count else { throw PeerMessage.ParseError("events: truncated") }
            if buffer[i] == UInt8(ascii: "]") {
                i += 1
            } else {
                while true {
                    let end: Int
                    do {
                        end = try JSONParser.skipValue(in: buffer, from: i)
                    } catch {
                        throw PeerMessage.ParseError("events[\(lines.count)]: \(error)")
                    }
                    guard buffer[i] == UInt8(ascii: "{") else {
                        throw PeerMessage.ParseError("events[\(lines.count)]: expected an event object")
                    }
                    lines.append(Array(buffer[i..<end]))
                    guard end < buffer.count else { throw PeerMessage.ParseError("events: truncated") }
                    i = end + 1
                    if buffer[end] == UInt8(ascii: "]") { break }
                    guard buffer[end] == UInt8(ascii: ",") else { throw PeerMessage.ParseError("events: expected ',' or ']'") }
                }
            }
            guard i == buffer.count - 1, buffer[i] == UInt8(ascii: "}") else {
                throw PeerMessage.ParseError("events: unexpected data after the array")
            }
            return lines
        }
    }
}

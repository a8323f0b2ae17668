public import IncidentModel
import NIOCore
import NIOPosix
public import Wire

/// A client connection to a node's client API: send request lines, read response lines in order.
///
/// Use it inside `withConnection`, which closes it afterwards. Requests may be pipelined: send
/// several, then receive as many responses, in the same order.
public final class IncidentConnection {
    let inboundIterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>

    init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.inboundIterator = inbound.makeAsyncIterator()
        self.iterator = inboundIterator
        self.outbound = outbound
    }

    /// Connects to `node` (plain TCP, no token), runs `body`, and closes the connection.
    public static func withConnection<R: Sendable>(
        to node: HostPort, maximumLineLength: Int = 64 << 20, _ body: (IncidentConnection) async throws -> R
    ) async throws -> R {
        try await withConnection(to: IncidentEndpoint(node), maximumLineLength: maximumLineLength, body)
    }

    /// Sends one request line (a newline is added when missing).
    public func send(_ line: [UInt8]) async throws {
        var buffer = ByteBuffer(bytes: line)
        if line.last != UInt8(ascii: "\n") { buffer.writeInteger(UInt8(ascii: "\n")) }
        try await outbound.write(buffer)
    }

    /// Sends several request lines in one write.
    public func send(lines: [[UInt8]]) async throws {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(lines.reduce(0) { $0 + $1.count + 1 })
        for line in lines {
            buffer.writeBytes(line)
            if line.last != UInt8(ascii: "\n") { buffer.writeInteger(UInt8(ascii: "\n")) }
        }
        try await outbound.write(buffer)
    }

    /// The next response line, without its newline.
    public func receive() async throws -> [UInt8] {
        guard let buffer = try await iterator.next() else { throw ClientError.connectionClosed }
        return Array(buffer.readableBytesView)
    }

    /// Sends a request and returns its successful response, or throws the node's error.
    public func request(_ line: [UInt8]) async throws -> JSONValue {
        try await send(line)
        return try Self.decode(try await receive())
    }

    /// Parses a response line; a `{"ok":false,…}` becomes `ClientError.server`.
    public static func decode(_ line: [UInt8]) throws -> JSONValue {
        let json: JSONValue
        do {
            json = try JSONParser.parse(line)
        } catch {
            throw ClientError.protocolError("response is not JSON: \(error)")
        }
        if json["ok"]?.boolValue == true { return json }
        let code = json["error"]?["code"]?.stringValue ?? "unknown"
        let message = json["error"]?["message"]?.stringValue ?? ""
        throw ClientError.server(code: code, message: message, field: json["error"]?["field"]?.stringValue)
    }
}

/// What can go wrong on the client side.
public enum ClientError: Error, CustomStringConvertible, Sendable {
    case cannotConnect(node: String, reason: String)
    case connectionClosed
    case protocolError(String)
    /// The node answered with an error (its stable code and message).
    case server(code: String, message: String, field: String?)

    public var description: String {
        switch self {
        case .cannotConnect(let node, let reason): return "cannot connect to \(node): \(reason)"
        case .connectionClosed: return "the node closed the connection"
        case .protocolError(let m): return "protocol error: \(m)"
        case .server(let code, let message, _): return "\(code): \(message)"
        }
    }
}

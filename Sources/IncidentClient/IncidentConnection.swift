public import IncidentModel
import NIOCore
import NIOPosix
public import Wire

/// A client connection to a node's client API: send request lines, read response lines in order.
///
/// Use it inside `withConnection`, which closes it afterwards. Requests may be pipelined: send
/// several, then receive as many responses, in the same order.
public final class IncidentConnection {
    var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    /// The address dialed, named in errors.
    let node: String

    init(inbound: NIOAsyncChannelInboundStream<ByteBuffer>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, node: String) {
        self.iterator = inbound.makeAsyncIterator()
        self.outbound = outbound
        self.node = node
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

    /// The next line, without its newline, as received (tests that play a peer read the peer
    /// protocol with it).
    public func receive() async throws -> [UInt8] {
        guard let buffer = try await iterator.next() else { throw ClientError.connectionClosed }
        return Array(buffer.readableBytesView)
    }

    /// The next response to a client request. A line of the peer protocol (a peer port answers a
    /// client's request with its hello or an error message) throws `.peerPort`.
    public func receiveResponse() async throws -> [UInt8] {
        let line = try await receive()
        if Self.isPeerProtocolLine(line) { throw ClientError.peerPort(node: node) }
        return line
    }

    /// Whether `line` opens like a message of the peer protocol (`{"type":"hello"` or
    /// `{"type":"error"`, docs/PROTOCOL.md); client API responses open with `{"ok"`.
    public static func isPeerProtocolLine(_ line: [UInt8]) -> Bool {
        guard line.count > 2, line[2] == UInt8(ascii: "t") else { return false }
        return line.starts(with: peerHelloPrefix) || line.starts(with: peerErrorPrefix)
    }

    static let peerHelloPrefix = Array(#"{"type":"hello""#.utf8)
    static let peerErrorPrefix = Array(#"{"type":"error""#.utf8)

    /// Sends a request and returns its successful response, or throws the node's error.
    public func request(_ line: [UInt8]) async throws -> JSONValue {
        try await send(line)
        return try Self.decode(try await receiveResponse())
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
    /// The address answered in the peer protocol: the user gave a node's peer port.
    case peerPort(node: String)
    case connectionClosed
    case protocolError(String)
    /// The node answered with an error (its stable code and message).
    case server(code: String, message: String, field: String?)

    public var description: String {
        switch self {
        case .cannotConnect(let node, let reason): return "cannot connect to \(node): \(reason)"
        case .peerPort(let node):
            return "\(node) is a peer port (replication), not a client API: use the node's listen address"
        case .connectionClosed: return "the node closed the connection"
        case .protocolError(let m): return "protocol error: \(m)"
        case .server(let code, let message, _): return "\(code): \(message)"
        }
    }
}

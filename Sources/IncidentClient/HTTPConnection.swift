public import IncidentModel
import NIOCore
public import NIOHTTP1
import NIOPosix
public import NIOSSL
public import Wire

/// An HTTP/1.1 client connection to a node's HTTP listener (docs/HTTP.md): requests one after
/// another on one keep-alive connection, or one response read part by part (the event stream).
/// For `incidentctl bench http-query` and the tests; use it inside `withConnection`.
public final class HTTPConnection {
    var iterator: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    let host: String

    /// A whole response.
    public struct Answer: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }

        /// The body as JSON.
        public var json: JSONValue? { try? JSONParser.parse(body) }
        /// The stable code of an error body.
        public var errorCode: String? { json?["error"]?["code"]?.stringValue }
    }

    init(inbound: NIOAsyncChannelInboundStream<HTTPClientResponsePart>, outbound: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>, host: String) {
        iterator = inbound.makeAsyncIterator()
        self.outbound = outbound
        self.host = host
    }

    /// Connects to `address` (TLS with `tls` when given), runs `body`, closes the connection.
    /// `receiveBufferBytes` sets the socket's receive buffer before connecting (a test's reader
    /// that is meant to fall behind).
    public static func withConnection<R: Sendable>(
        to address: HostPort, tls: NIOSSLContext? = nil, serverHostname: String? = nil, receiveBufferBytes: Int? = nil,
        _ body: (HTTPConnection) async throws -> R
    ) async throws -> R {
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
        if let receiveBufferBytes { bootstrap = bootstrap.channelOption(.socketOption(.so_rcvbuf), value: .init(receiveBufferBytes)) }
        let channel: NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>
        do {
            channel = try await bootstrap.connect(host: address.host, port: address.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverHostname)) }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel, configuration: .init(backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8)))
                }
            }
        } catch {
            throw ClientError.cannotConnect(node: address.description, reason: ConnectFailure.reason(error))
        }
        return try await channel.executeThenClose { inbound, outbound in
            try await body(HTTPConnection(inbound: inbound, outbound: outbound, host: address.description))
        }
    }

    /// Sends a request (`Content-Length` set when there is a body).
    public func send(_ method: HTTPMethod = .GET, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
        head.headers.add(name: "Host", value: host)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        if let body { head.headers.replaceOrAdd(name: "Content-Length", value: String(body.count)) }
        var parts: [HTTPClientRequestPart] = [.head(head)]
        if let body, !body.isEmpty { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
        parts.append(.end(nil))
        try await outbound.write(contentsOf: parts)
    }

    /// The status and headers of the next response.
    public func readHead() async throws -> (status: Int, headers: [(name: String, value: String)]) {
        guard let part = try await iterator.next() else { throw ClientError.connectionClosed }
        guard case .head(let head) = part else { throw ClientError.protocolError("expected a response head") }
        return (Int(head.status.code), head.headers.map { ($0.name, $0.value) })
    }

    /// The next part of the response body; nil at its end.
    public func readBodyPart() async throws -> [UInt8]? {
        guard let part = try await iterator.next() else { throw ClientError.connectionClosed }
        switch part {
        case .body(let buffer): return Array(buffer.readableBytesView)
        case .end: return nil
        case .head: throw ClientError.protocolError("a response head inside a body")
        }
    }

    /// Sends a request and reads its whole response.
    public func request(_ method: HTTPMethod = .GET, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> Answer {
        try await send(method, path, headers: headers, body: body)
        let (status, responseHeaders) = try await readHead()
        var bytes: [UInt8] = []
        while let part = try await readBodyPart() { bytes += part }
        return Answer(status: status, headers: responseHeaders, body: bytes)
    }
}

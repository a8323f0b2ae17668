import IncidentClient
import NIOCore
import NIOPosix
import NIOSSL
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// The connections of the lean generators (`bench append`, `bench query`): one plain NIO channel
/// with TCP_NODELAY, TLS when the endpoint names a CA, and one handler that sends pre-encoded
/// request lines — no task, no JSON tree per request.
enum LeanConnection {
    /// The auth line to send first when the endpoint has a token (answered `{"ok":true,…}`).
    static func authLine(_ endpoint: IncidentEndpoint) -> ByteBuffer? {
        endpoint.token.map { ByteBuffer(bytes: AuthRequest.line(token: $0) + [UInt8(ascii: "\n")]) }
    }

    /// Connects to `endpoint` on `loop`, with the handler `makeHandler` builds there. The
    /// caller picks the loop (and makes the handler's promises on it): connections spread over
    /// the loops as the caller takes them, one after the other, from the group.
    static func connect(
        to endpoint: IncidentEndpoint, on loop: any EventLoop, _ makeHandler: @escaping @Sendable () -> any ChannelHandler
    ) async throws -> any Channel {
        let tls = try endpoint.connectionTLSContext()
        let hostname = endpoint.serverHostname
        do {
            return try await ClientBootstrap(group: loop)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(5))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: hostname))
                        }
                        try channel.pipeline.syncOperations.addHandler(makeHandler())
                    }
                }
                .connect(host: endpoint.address.host, port: endpoint.address.port).get()
        } catch {
            throw ClientError.cannotConnect(node: endpoint.description, reason: "\(error)")
        }
    }
}

/// Splits a connection's bytes into answer lines, keeping only the head of each (what the
/// generators check: `{"ok":true`, or a refusal's code): an answer of kilobytes is scanned for
/// its newline with memchr and never copied.
struct AnswerLines {
    /// How an answer the node accepted opens.
    static let okPrefix = Array(#"{"ok":true"#.utf8)
    /// Bytes of a line kept.
    static let headBytes = 512
    /// The head of the line not yet complete.
    var head: [UInt8] = []

    /// Calls `answer` with the head of each whole line of `buffer` until it returns false.
    mutating func read(_ buffer: inout ByteBuffer, _ answer: ([UInt8]) -> Bool) {
        while buffer.readableBytes > 0 {
            let (length, complete) = buffer.withUnsafeReadableBytes { bytes -> (Int, Bool) in
                guard let base = bytes.baseAddress, let newline = memchr(base, Int32(UInt8(ascii: "\n")), bytes.count) else {
                    return (bytes.count, false)
                }
                return (base.distance(to: UnsafeRawPointer(newline)), true)
            }
            let keep = min(length, max(0, Self.headBytes - head.count))
            if keep > 0 { head += buffer.readableBytesView.prefix(keep) }
            buffer.moveReaderIndex(forwardBy: complete ? length + 1 : length)
            guard complete else { return }
            let line = head
            head.removeAll(keepingCapacity: true)
            guard answer(line) else { return }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
package import NIOSSL
public import Wire

/// Where and how to reach a node's client API: its address, the client's token (sent as the
/// first request, `{"op":"auth",…}`), and TLS (the CA that signed the node's certificate).
public struct IncidentEndpoint: Sendable, CustomStringConvertible {
    public var address: HostPort
    public var token: String?
    /// PEM file of the CA to verify the node's certificate with; nil: plain TCP.
    public var tlsCA: String?

    public init(_ address: HostPort, token: String? = nil, tlsCA: String? = nil) {
        self.address = address
        self.token = token
        self.tlsCA = tlsCA
    }

    public var description: String { address.description }

    /// The TLS context for `tlsCA`: the node's certificate must chain to the CA and name the host
    /// dialed (its DNS name, or its IP address in the certificate's subjectAltName).
    package func tlsContext() throws -> NIOSSLContext? {
        guard let tlsCA else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(tlsCA))
        configuration.minimumTLSVersion = .tlsv12
        return try NIOSSLContext(configuration: configuration)
    }

    /// The name sent for SNI and checked against the certificate; nil for an IP address (then
    /// the certificate must hold that address).
    package var serverHostname: String? {
        let host = address.host
        if host.contains(":") { return nil }
        let parts = host.split(separator: ".")
        if parts.count == 4 && parts.allSatisfy({ UInt8($0) != nil }) { return nil }
        return host
    }
}

extension IncidentEndpoint {
    /// `tlsContext()` for a connection: an error in it is `cannotConnect`, naming the node.
    package func connectionTLSContext() throws -> NIOSSLContext? {
        do {
            return try tlsContext()
        } catch {
            throw ClientError.cannotConnect(node: description, reason: "TLS: \(error)")
        }
    }
}

extension IncidentConnection {
    /// Connects to `endpoint` (over TLS when it names a CA), authenticates with its token when it
    /// has one, runs `body`, and closes the connection.
    public static func withConnection<R: Sendable>(
        to endpoint: IncidentEndpoint, maximumLineLength: Int = 64 << 20, _ body: (IncidentConnection) async throws -> R
    ) async throws -> R {
        let tls = try endpoint.connectionTLSContext()
        let hostname = endpoint.serverHostname
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(5))
                .connect(host: endpoint.address.host, port: endpoint.address.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: hostname))
                        }
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(LineFrameDecoder(maximumLineLength: maximumLineLength)))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw ClientError.cannotConnect(node: endpoint.description, reason: ConnectFailure.reason(error))
        }
        // The body runs on the connection's event loop: each request then costs no thread hop
        // between the loop and the cooperative pool (see EventLoopTaskExecutor).
        return try await withTaskExecutorPreference(EventLoopTaskExecutor(channel.channel.eventLoop)) {
            try await channel.executeThenClose { inbound, outbound in
                let connection = IncidentConnection(inbound: inbound, outbound: outbound, node: endpoint.description)
                if let token = endpoint.token {
                    _ = try await connection.request(AuthRequest.line(token: token))
                }
                return try await body(connection)
            }
        }
    }
}

/// Why a connect failed, in words a user acts on rather than NIO's error dump.
enum ConnectFailure {
    static func reason(_ error: any Error) -> String {
        if let e = error as? NIOConnectionError {
            if e.dnsAError != nil && e.dnsAAAAError != nil && e.connectionErrors.isEmpty { return "cannot resolve host \(e.host)" }
            // Every address tried failed; the first failure speaks for them.
            if let first = e.connectionErrors.first { return reason(first.error) }
        }
        if let e = error as? IOError {
            switch e.errnoCode {
            case ECONNREFUSED: return "connection refused (is incidentd running there?)"
            case ENETUNREACH, EHOSTUNREACH: return "no route to host"
            default: return String(cString: strerror(e.errnoCode))
            }
        }
        if let e = error as? ChannelError, case .connectTimeout(let t) = e {
            return "no answer within \(t.nanoseconds / 1_000_000_000) s (a firewall, or a host that is down?)"
        }
        return "\(error)"
    }
}

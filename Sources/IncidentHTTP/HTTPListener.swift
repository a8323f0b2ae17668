import HTTPTypes
import Hummingbird
import HummingbirdCore
public import IncidentServer
import Logging
import NIOCore
import NIOHTTPTypes
import NIOPosix
import NIOSSL
public import ServiceLifecycle
import Synchronization
import Wire

/// The HTTP listener (`http_listen`, docs/HTTP.md): the JSON API, the event stream, `/metrics`
/// and the dashboard, on Hummingbird's router and HTTP/1.1 channel, over the node's own accept
/// loop so that it can take a socket passed by systemd (`FileDescriptorName=http`) and hold
/// connections to the limits of the client API.
///
/// Each connection: admitted under `max_connections` and `max_connections_per_address` (else
/// answered 503 `too_many_connections` and closed); TLS with the client listener's context when
/// `tls_cert` is set; then `ConnectionGuard` (timeouts, request rate, malformed requests) and
/// the router. Graceful shutdown: stop accepting, let each connection finish the response it is
/// writing (event streams end at once), close idle ones; whatever is left is closed after
/// `drainLimit`.
public final class HTTPListener: Service {
    let context: IncidentNode.HTTPContext
    let routes: Routes
    let connections = HTTPConnections()
    static let drainLimit = Duration.seconds(3)

    public init(_ context: IncidentNode.HTTPContext, metrics: NodeMetrics) {
        self.context = context
        routes = Routes(context: context, metrics: metrics, connections: connections)
    }

    public func run() async throws {
        let context = self.context
        let logger = context.logger
        let limits = context.limits
        let routes = self.routes
        let responder = Routes.router { routes }.buildResponder()
        let connections = self.connections
        let http1 = HTTP1Channel(
            responder: { request, writer, channel in
                let requestContext = RouteContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
                let response: Response
                do {
                    response = try await responder.respond(to: request, context: requestContext)
                } catch {
                    response = routes.refusal(WireError(.notFound, "no such resource: \(request.method) \(request.uri.path)"))
                }
                try await writer.write(response: response.head, body: response.body)
            },
            configuration: .init(additionalChannelHandlers: [ConnectionGuard(limits: limits, errors: context.api.errors, logger: logger)]))
        let tls = context.tls
        let initializer: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>?> = { child in
            let address = child.remoteAddress?.ipAddress ?? "?"
            guard connections.admit(child, address: address, limits: limits) else {
                return child.eventLoop.makeCompletedFuture {
                    if let tls { try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    let error = WireError(
                        .tooManyConnections,
                        "too many open connections (at most \(limits.maximumConnections), \(limits.maximumConnectionsPerAddress) per address)")
                    logger.notice("too many HTTP connections; refusing one", metadata: ["http.peer": "\(address)"])
                    child.answerThenClose(Routes.rawRefusal(error, errors: context.api.errors))
                    return nil
                }
            }
            child.closeFuture.whenComplete { _ in connections.remove(child) }
            return child.eventLoop.makeCompletedFuture {
                if let tls { try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
            }.flatMap {
                http1.setup(channel: child, logger: logger).map { Optional($0) }
            }
        }
        let bootstrap = ServerBootstrap(group: context.group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 32 * 1024, high: 64 * 1024))
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>?, Never>
        if let socket = context.socket {
            server = try await bootstrap.bind(socket, childChannelInitializer: initializer)
        } else {
            do {
                server = try await bootstrap.bind(host: context.address.host, port: context.address.port, childChannelInitializer: initializer)
            } catch {
                throw BindFailure(key: "http_listen", address: context.address, error: error)
            }
        }
        let local = server.channel.localAddress
        let bound = HostPort(host: context.socket == nil ? context.address.host : (local?.ipAddress ?? "?"), port: local?.port ?? context.address.port)
        logger.info(
            "http listener bound",
            metadata: [
                "http.address": "\(bound)", "http.socket": "\(context.socket == nil ? "bound" : "passed by systemd")",
                "http.tls": "\(tls == nil ? "off" : "on")",
            ])
        context.onBound(bound)

        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { inbound in
                    for try await connection in inbound {
                        guard let connection else { continue }
                        group.addTask { await http1.handle(value: connection, logger: logger) }
                    }
                }
                // Not accepting any more: connections finish their response and close (the guard
                // closes idle ones on the quiesce event); the rest are closed at the limit.
                let deadline = ContinuousClock.now + Self.drainLimit
                while connections.count > 0, ContinuousClock.now < deadline {
                    do { try await Task.sleep(for: .milliseconds(20)) } catch { break }
                }
                connections.closeAll()
            }
        } onGracefulShutdown: {
            connections.beginShutdown()
            server.channel.close(promise: nil)
        }
        logger.info("http listener stopped")
    }
}

/// The open HTTP connections: the connection limits, and shutdown.
final class HTTPConnections: Sendable {
    struct State {
        var channels: [ObjectIdentifier: (channel: any Channel, address: String)] = [:]
        var byAddress: [String: Int] = [:]
        var shuttingDown = false
    }

    let state = Mutex(State())

    /// Registers a connection; false at a limit (the caller refuses it).
    func admit(_ channel: any Channel, address: String, limits: ClientLimits) -> Bool {
        state.withLock { s in
            guard !s.shuttingDown, s.channels.count < limits.maximumConnections,
                s.byAddress[address, default: 0] < limits.maximumConnectionsPerAddress
            else { return false }
            s.channels[ObjectIdentifier(channel)] = (channel, address)
            s.byAddress[address, default: 0] += 1
            return true
        }
    }

    func remove(_ channel: any Channel) {
        state.withLock { s in
            guard let e = s.channels.removeValue(forKey: ObjectIdentifier(channel)) else { return }
            let n = s.byAddress[e.address, default: 1] - 1
            s.byAddress[e.address] = n > 0 ? n : nil
        }
    }

    var count: Int { state.withLock { $0.channels.count } }

    var shuttingDown: Bool { state.withLock { $0.shuttingDown } }

    /// From now on appends are answered `shutting_down`, and each connection is told to finish
    /// (`ChannelShouldQuiesceEvent`: idle ones close now, busy ones after their response).
    func beginShutdown() {
        let channels = state.withLock { s in
            s.shuttingDown = true
            return s.channels.values.map(\.channel)
        }
        for c in channels { c.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
    }

    func closeAll() {
        let channels = state.withLock { $0.channels.values.map(\.channel) }
        for c in channels { c.close(promise: nil) }
    }
}

/// The request context of the node's routes: Hummingbird's core storage and the connection.
struct RouteContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

public import EventStore
public import Logging
public import NIOCore
public import NIOSSL
import IncidentModel
import Sync
public import Wire

/// What the node hands its HTTP listener (module IncidentHTTP, docs/HTTP.md): authentication
/// by bearer token under the client API's policy, and the line protocol's own request handler,
/// so that every HTTP query and append is answered by the code that answers the same request
/// line, with the same bytes and the same error codes.
public struct NodeAPI: Sendable {
    let handler: RequestHandler
    let authority: ClientAuthority
    let projections: ProjectionService
    let peers: PeerRegistry
    let lineConnections: ConnectionRegistry
    /// The log, for the event stream (it reads and subscribes; it never writes).
    public var store: EventStore { handler.store }
    /// The configured sectors, in the config's order.
    public var sectors: [String] { handler.config.sectors }

    /// Who sends a request, once authenticated.
    public struct Caller: Sendable {
        let principal: ClientPrincipal
        /// The token's name in the config, `anonymous` without one (for logs).
        public var name: String { principal.name }
    }

    /// The caller behind `bearer` (the token of `Authorization: Bearer`, nil without one), or
    /// the refusal (`unauthorized`) to answer. `listenerIsLoopback`: the HTTP listener's own
    /// address, which decides whether a client without a token is anonymous `hq`.
    public func caller(bearer: String?, listenerIsLoopback: Bool) -> Result<Caller, WireError> {
        authority.principal(bearer: bearer, listenerIsLoopback: listenerIsLoopback).map(Caller.init)
    }

    /// Answers one request line of the client protocol (docs/PROTOCOL.md) as `caller`: the role
    /// check, validation, store and views of the line protocol. The answer is one line, `\n`
    /// included.
    public func answer(_ line: [UInt8], caller: Caller, shuttingDown: Bool) async -> [UInt8] {
        var state = RequestHandler.ConnectionState()
        state.auth.principal = caller.principal
        return await handler.handle(line: line, connection: &state, shuttingDown: shuttingDown)
    }

    /// Waits until the views hold every event below log offset `target`, at most `within`.
    public func waitFolded(upTo target: UInt64, within: Duration) async -> Bool {
        await projections.waitFolded(upTo: target, within: within)
    }

    /// Events folded into the views (the offset the fold has reached).
    public var folded: UInt64 { projections.counters.cursor }

    /// The node's state for the metrics computed when they are read (docs/OPERATIONS.md).
    public struct State: Sendable {
        public struct Peer: Sendable {
            /// The peer's node id once known, else its configured address.
            public var name: String
            /// `in` or `out`.
            public var direction: String
            public var connected: Bool
            /// Events this node holds that the peer lacks, as far as this node knows.
            public var lagEvents: UInt64
            /// Seconds since the oldest event the peer lacks was recorded; 0 when it lacks none.
            public var lagSeconds: Int64
            /// Bytes on the wire, over every session (after compression).
            public var bytesSent: UInt64
            public var bytesReceived: UInt64
        }

        public var peers: [Peer]
        /// Per origin, the age in seconds of the newest event held from it (as `ages` in views).
        public var freshness: [(origin: String, seconds: Int64)]
        public var events: UInt64
        public var folded: UInt64
        /// Stored events the fold kept out of the views for failing the append checks.
        public var quarantined: UInt64
        /// Open connections of the line protocol's listener.
        public var lineConnections: Int
    }

    public func state() -> State {
        let now = Int64(handler.wallClock())
        let ours = handler.store.versionVector
        let peers = self.peers.snapshot.map { e in
            State.Peer(
                name: e.node ?? e.address ?? e.key, direction: e.direction, connected: e.connected, lagEvents: ours.lacking(in: e.peerVector),
                lagSeconds: handler.oldestLackedAge(e.peerVector, ours: ours, nowMillis: now) ?? 0,
                bytesSent: e.link.wireBytesSent, bytesReceived: e.link.wireBytesReceived)
        }
        let (freshness, quarantined) = projections.query { ($0.freshnessAgeSeconds(nowMillis: now), $0.quarantinedCount) }
        return State(
            peers: peers, freshness: freshness, events: handler.store.count, folded: folded, quarantined: quarantined,
            lineConnections: lineConnections.count)
    }

    /// What counts the node's refusals (`incidentlog_client_errors_total`).
    public var errors: ClientErrors { handler.errors }

    /// The error line for `error`, counted with every other refusal of the node (`ClientErrors`).
    public func refusal(_ error: WireError) -> [UInt8] { handler.errors.refusal(error) }
}

extension IncidentNode {
    /// What the HTTP listener is built from (`IncidentNode.Options.http`).
    public struct HTTPContext: Sendable {
        public var api: NodeAPI
        /// `http_listen`, or where a passed socket is bound.
        public var address: HostPort
        /// A listening socket passed by systemd under the name `http`, to use instead of binding.
        public var socket: Int32?
        /// Whether the listener is on loopback (anonymous clients only there).
        public var isLoopback: Bool
        /// The client listener's TLS context (`tls_cert`, `tls_key`), nil without TLS.
        public var tls: NIOSSLContext?
        public var limits: ClientLimits
        /// `max_line_bytes`: the largest request body.
        public var maximumBodyBytes: Int
        public var group: any EventLoopGroup
        public var logger: Logger
        /// To call with the bound address (readiness, the ready file).
        public var onBound: @Sendable (HostPort) -> Void
    }
}

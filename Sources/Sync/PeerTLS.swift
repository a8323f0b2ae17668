import NIOCore
public import NIOSSL
import Synchronization

/// Mutual TLS between peers: each side presents its certificate and verifies the
/// other's against the mission's CA. The certificate says "a machine of the mission"; which node
/// it is, is still proved by the key proof of the peer protocol, so host names are not checked
/// (peers are often dialed by IP address, and a certificate then need not name it).
public struct PeerTLS: Sendable {
    /// For the peer listener: requires and verifies the client's certificate.
    public var server: NIOSSLContext
    /// For the dialer: presents this node's certificate and verifies the listener's.
    public var client: NIOSSLContext

    public init(server: NIOSSLContext, client: NIOSSLContext) {
        self.server = server
        self.client = client
    }

    /// Adds the TLS handler of a listener's or dialer's side to a new channel, first in its pipeline.
    static func addHandler(_ tls: PeerTLS?, server: Bool, to channel: any Channel) throws {
        guard let tls else { return }
        if server {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.server))
        } else {
            try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls.client, serverHostname: nil))
        }
    }
}

/// How many inbound peer connections the listener keeps open: a peer is one node, so a handful
/// per address is plenty, and a flood of connections that never say hello is cut off early.
public struct PeerConnectionLimits: Sendable {
    public var total = 64
    public var perAddress = 8
    public init() {}
}

/// The open inbound peer connections, by remote address, and which of them belong to a session
/// whose peer has proved its key.
///
/// At a limit (in total, or from the connection's address) the oldest connection whose peer
/// has not proved its key (from that address when that limit is reached) is closed to make
/// room; only when every slot holds a proven session is the new one refused. A trusted peer
/// redialling therefore always gets in past connections that never say hello, and a flood
/// only ever pushes out its own members (docs/SECURITY.md, "Connection floods").
final class PeerConnectionCounter: Sendable {
    struct Entry {
        var address: String
        var channel: any Channel
        var proven = false
    }

    struct State {
        var entries: [Int: Entry] = [:]
        var byAddress: [String: Int] = [:]
        var nextID = 0
    }

    let state = Mutex(State())

    /// Counts the connection in and gives its id, or nil (counting nothing) when every slot
    /// that could make room is proven; and the connection closed to make room, if any.
    func admit(_ address: String, channel: any Channel, limits: PeerConnectionLimits) -> (id: Int?, evicted: (any Channel)?) {
        state.withLock { s in
            var evicted: (any Channel)? = nil
            let addressFull = s.byAddress[address, default: 0] >= limits.perAddress
            if addressFull || s.entries.count >= limits.total {
                // Ids grow with arrival: the smallest is the oldest.
                let victim = s.entries.filter { !$0.value.proven && (!addressFull || $0.value.address == address) }.min { $0.key < $1.key }
                guard let victim else { return (nil, nil) }
                Self.remove(victim.key, from: &s)
                evicted = victim.value.channel
                if s.entries.count >= limits.total || s.byAddress[address, default: 0] >= limits.perAddress { return (nil, evicted) }
            }
            let id = s.nextID
            s.nextID += 1
            s.entries[id] = Entry(address: address, channel: channel)
            s.byAddress[address, default: 0] += 1
            return (id, evicted)
        }
    }

    /// The connection's peer proved its key: it is never closed to make room.
    func prove(_ id: Int) {
        state.withLock { $0.entries[id]?.proven = true }
    }

    /// Forgets a connection that ended (a no-op for one closed to make room).
    func release(_ id: Int) {
        state.withLock { Self.remove(id, from: &$0) }
    }

    private static func remove(_ id: Int, from s: inout State) {
        guard let e = s.entries.removeValue(forKey: id) else { return }
        let n = s.byAddress[e.address, default: 1] - 1
        s.byAddress[e.address] = n > 0 ? n : nil
    }
}

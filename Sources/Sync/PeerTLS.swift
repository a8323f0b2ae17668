import NIOCore
public import NIOSSL
import Synchronization

/// Mutual TLS between peers (issue 6): each side presents its certificate and verifies the
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

/// Counts open inbound connections by remote address.
final class PeerConnectionCounter: Sendable {
    let counts = Mutex<(total: Int, byAddress: [String: Int])>((0, [:]))

    /// Counts the connection in, or returns false (and counts nothing) when over a limit.
    func admit(_ address: String, limits: PeerConnectionLimits) -> Bool {
        counts.withLock { c in
            guard c.total < limits.total, c.byAddress[address, default: 0] < limits.perAddress else { return false }
            c.total += 1
            c.byAddress[address, default: 0] += 1
            return true
        }
    }

    func release(_ address: String) {
        counts.withLock { c in
            c.total -= 1
            let n = c.byAddress[address, default: 1] - 1
            c.byAddress[address] = n > 0 ? n : nil
        }
    }
}

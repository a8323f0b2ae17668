public import IncidentModel
public import Wire
import Synchronization

/// What the node knows about each peer, for `status`: one entry per configured peer address and
/// per inbound node. Updated by the sessions; read by the status request.
public final class PeerRegistry: Sendable {
    public struct Entry: Sendable {
        public var key: String
        public var address: String?
        public var node: String?
        public var direction: String
        public var connected = false
        /// Unix ms when the current (or last) session was established.
        public var sinceMillis: Int64? = nil
        public var lastContactMillis: Int64? = nil
        public var eventsSent: UInt64 = 0
        public var eventsReceived: UInt64 = 0
        /// What the peer holds, as far as this node knows (hello, acks, events received).
        public var peerVector = VersionVector()
        public var lastError: String? = nil
        /// The link's figures (bytes raw and on the wire over every session, message size,
        /// throughput, cuts; docs/OPERATIONS.md "Peer links"), as `status` shows them.
        public var link = ClientResponse.Peer.Link()
    }

    let entries = Mutex<[String: Entry]>([:])

    public init() {}

    public func update(_ key: String, direction: String, _ body: (inout Entry) -> Void) {
        entries.withLock { all in
            var e = all[key] ?? Entry(key: key, direction: direction)
            body(&e)
            all[key] = e
        }
    }

    public func remove(_ key: String) {
        _ = entries.withLock { $0.removeValue(forKey: key) }
    }

    public var snapshot: [Entry] { entries.withLock { Array($0.values) }.sorted { $0.key < $1.key } }

    /// Peers with an established session.
    public var connectedCount: Int { entries.withLock { $0.values.filter(\.connected).count } }
}

extension VersionVector {
    /// Events `self` holds that `other` lacks.
    public func lacking(in other: VersionVector) -> UInt64 {
        entries.reduce(0) { $0 + ($1.value > other[$1.key] ? $1.value - other[$1.key] : 0) }
    }

    /// The element-wise maximum.
    public func merged(with other: VersionVector) -> VersionVector {
        var out = self
        for (k, v) in other.entries where v > out[k] { out[k] = v }
        return out
    }
}

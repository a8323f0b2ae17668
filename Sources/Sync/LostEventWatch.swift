public import EventStore
import IncidentModel
import Synchronization
public import Wire

/// Decides when this node's own events that a damaged segment hides are lost (the rule is at the
/// top of Sources/EventStore/Damage.swift): once every configured peer has completed a handshake
/// since the node started, and neither they nor any other peer heard from holds the event (each
/// hello's vector stops below it). A node that dials no peer has nobody to ask: its missing own
/// events are lost at once. Either way the event is still repaired should a peer or a bundle
/// bring it later; "lost" is what the node reports meanwhile.
///
/// Checked when the node starts and after every handshake (`PeerLink`).
public final class LostEventWatch: Sendable {
    let store: EventStore
    let registry: PeerRegistry
    let configured = Mutex<@Sendable () -> [HostPort]>({ [] })

    public init(store: EventStore, registry: PeerRegistry) {
        self.store = store
        self.registry = registry
    }

    /// Where the peers the node dials come from (the dialer's current list).
    public func configuredPeers(_ peers: @escaping @Sendable () -> [HostPort]) {
        configured.withLock { $0 = peers }
    }

    public func check() {
        let missing = store.missingOwnSeqs
        guard !missing.isEmpty else { return }
        let entries = Dictionary(registry.snapshot.map { ($0.key, $0) }) { first, _ in first }
        for address in configured.withLock({ $0 })() {
            guard let entry = entries[PeerDialer.registryKey(address)], entry.sinceMillis != nil else { return }
        }
        let heard = entries.values.filter { $0.sinceMillis != nil }.map(\.peerVector)
        let own = store.nodeID
        store.reportLost(missing.filter { seq in heard.allSatisfy { $0[own] < seq } })
    }
}

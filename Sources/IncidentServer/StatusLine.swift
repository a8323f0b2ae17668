import EventStore
import Sync

/// The one line `systemctl status incidentd` shows (STATUS=), e.g.
/// `1200 events held; peers 1 connected / 2 configured; largest lag 35 events (gao)`.
/// The lag of a peer is the larger of what it lacks from us and what we lack from it, as far
/// as the last hello, ack or event told. Stored events that the views quarantine are counted at
/// the end when there are any (`; 3 events quarantined`; `incidentctl status` names them).
struct StatusLine: Sendable {
    let store: EventStore
    let registry: PeerRegistry
    let dialer: PeerDialer
    let quarantined: @Sendable () -> UInt64

    func text() -> String {
        let ours = store.versionVector
        var largest: (events: UInt64, peer: String)? = nil
        for entry in registry.snapshot {
            let lag = max(ours.lacking(in: entry.peerVector), entry.peerVector.lacking(in: ours))
            if lag > (largest?.events ?? 0) { largest = (lag, entry.node ?? entry.address ?? entry.key) }
        }
        var line = "\(store.count) events held; peers \(registry.connectedCount) connected / \(dialer.currentPeers.count) configured; "
        if let largest {
            line += "largest lag \(largest.events) events (\(largest.peer))"
        } else {
            line += "largest lag 0 events"
        }
        let q = quarantined()
        if q > 0 { line += "; \(q) event\(q == 1 ? "" : "s") quarantined" }
        if let failure = store.failure { line = "STORE FAILED, refusing appends (\(failure.message)); " + line }
        return line
    }
}

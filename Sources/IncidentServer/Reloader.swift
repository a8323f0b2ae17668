import IncidentModel
import Logging
import Synchronization
import Sync

/// What SIGHUP does: reads the configuration again (file, environment, flags) and applies what
/// can change while running — peers (`PeerDialer.setPeers`: new ones dialed, removed ones
/// dropped, the rest keep their sessions), the trust list (read by every new session and every
/// ingest; open sessions re-check their peer, `PeerSession.updateTrust`) and the log level. Other keys need a restart; a change to one is logged. A config
/// that does not load is logged and the running one kept.
final class Reloader: Sendable {
    let running: Mutex<NodeConfig>
    let loader: ConfigLoader?
    let identity: NodeIdentity
    let dialer: PeerDialer
    let trust: TrustBox
    let authority: ClientAuthority
    let logLevel: SharedLogLevel?
    let logger: Logger

    /// Keys applied on reload; every other key of `NodeConfig.keys` needs a restart.
    static let reloadableKeys: Set<String> = ["peers", "trust", "log_level", "tokens", "allow_anonymous_loopback"]

    init(
        running: NodeConfig, loader: ConfigLoader?, identity: NodeIdentity, dialer: PeerDialer, trust: TrustBox,
        authority: ClientAuthority, logLevel: SharedLogLevel?, logger: Logger
    ) {
        self.running = Mutex(running)
        self.loader = loader
        self.identity = identity
        self.dialer = dialer
        self.trust = trust
        self.authority = authority
        self.logLevel = logLevel
        self.logger = logger
    }

    func reload() async {
        guard let loader else {
            logger.notice("reload: no configuration source; nothing to reload")
            return
        }
        let new: NodeConfig
        do {
            new = try loader.load()
        } catch {
            logger.error("reload failed; the running configuration is kept", metadata: ["config.error": "\(error)"])
            return
        }
        let newTrust: TrustList
        do {
            newTrust = try IncidentNode.trustList(new, identity: identity)
        } catch {
            logger.error("reload failed; the running configuration is kept", metadata: ["config.error": "\(error)"])
            return
        }
        let old = running.withLock { $0 }
        var applied: [String] = []
        if new.peers != old.peers {
            dialer.setPeers(new.peers)
            applied.append("peers")
        }
        if new.trust != old.trust {
            trust.set(newTrust)
            applied.append("trust")
        }
        if new.logLevel != old.logLevel, let logLevel, let level = Logger.Level(rawValue: new.logLevel) {
            logLevel.level = level
            applied.append("log_level")
        }
        // Client tokens, beside the trust list. Open connections re-check their token
        // on their next request, so a token removed here stops working at once.
        if new.tokens != old.tokens || new.allowAnonymousLoopback != old.allowAnonymousLoopback {
            authority.set(tokens: new.tokens, allowAnonymous: new.allowAnonymousLoopback)
            if new.tokens != old.tokens { applied.append("tokens") }
            if new.allowAnonymousLoopback != old.allowAnonymousLoopback { applied.append("allow_anonymous_loopback") }
        }
        let restart = Self.changedKeys(old, new).filter { !Self.reloadableKeys.contains($0) }
        running.withLock { r in
            r.peers = new.peers
            r.trust = new.trust
            r.logLevel = new.logLevel
            r.tokens = new.tokens
            r.allowAnonymousLoopback = new.allowAnonymousLoopback
        }
        logger.info(
            "configuration reloaded",
            metadata: [
                "config.applied": "\(applied.isEmpty ? "-" : applied.joined(separator: ","))",
                "sync.peers": "\(new.peers.map(\.description).joined(separator: ","))",
                "sync.trusted": "\(newTrust.nodes.joined(separator: ","))",
            ])
        if !restart.isEmpty {
            logger.warning(
                "configuration changes that take effect only after a restart",
                metadata: ["config.restart_needed": "\(restart.joined(separator: ","))"])
        }
    }

    /// The config keys whose values differ.
    static func changedKeys(_ a: NodeConfig, _ b: NodeConfig) -> [String] {
        var out: [String] = []
        if a.nodeID != b.nodeID { out.append("node_id") }
        if a.dataDir != b.dataDir { out.append("data_dir") }
        if a.listen != b.listen { out.append("listen") }
        if a.fsync != b.fsync { out.append("fsync") }
        if a.sectors != b.sectors { out.append("sectors") }
        if a.diskReserveBytes != b.diskReserveBytes { out.append("disk_reserve_mb") }
        if a.segmentBytes != b.segmentBytes { out.append("segment_mb") }
        if a.maximumLineBytes != b.maximumLineBytes { out.append("max_line_bytes") }
        if a.maximumEventsPerAppend != b.maximumEventsPerAppend { out.append("max_events_per_append") }
        if a.logLevel != b.logLevel { out.append("log_level") }
        if a.logFormat != b.logFormat { out.append("log_format") }
        if a.peerListen != b.peerListen { out.append("peer_listen") }
        if a.httpListen != b.httpListen { out.append("http_listen") }
        if a.peers != b.peers { out.append("peers") }
        if a.trust != b.trust { out.append("trust") }
        if a.keyFile != b.keyFile { out.append("key_file") }
        out += changedSecurityKeys(a, b)
        return out
    }
}

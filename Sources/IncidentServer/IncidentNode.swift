import EventStore
import IncidentModel
public import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization
import Sync
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// One running node: identity, store and client listener in a ServiceGroup.
public enum IncidentNode {
    /// Opens everything and runs until SIGTERM/SIGINT. `readyFile`, when given, receives
    /// `{"client":"HOST:PORT"}` once the listener is bound (tests bind port 0 and read it).
    public static func run(config: NodeConfig, readyFile: String?, logger: Logger) async throws {
        if let code = makeDataDirectory(config.dataDir) {
            throw NodeConfig.Failure(file: config.dataDir, key: "data_dir", reason: "cannot create: \(String(cString: strerror(code)))")
        }
        let identity = try NodeIdentity.loadOrCreate(directory: config.dataDir)
        let store = try EventStore(
            directory: config.dataDir, nodeID: config.nodeID, identity: identity, options: config.storeOptions,
            logger: logger)
        let trust = TrustBox(try trustList(config, identity: identity))
        let registry = PeerRegistry()
        let handler = RequestHandler(
            store: store, validator: EventValidator(sectors: config.sectors), config: config,
            publicKey: identity.publicKeyBase64, peers: registry, trust: { trust.value }, logger: logger)
        let readiness = Readiness(expected: config.peerListen == nil ? 1 : 2) { addresses in
            if let readyFile { writeReadyFile(readyFile, addresses) }
            let list = addresses.keys.sorted().map { "\($0)=\(addresses[$0]!)" }.joined(separator: " ")
            logger.info("node ready", metadata: ["node.id": "\(config.nodeID)", "node.addresses": "\(list)"])
        }
        let group = MultiThreadedEventLoopGroup.singleton
        let listener = ClientListener(
            address: config.listen, handler: handler, maximumLineLength: config.maximumLineBytes, group: group, logger: logger
        ) { readiness.bound("client", $0) }
        let peerContext = PeerContext(
            store: store, identity: identity, nodeID: config.nodeID, trust: { trust.value }, registry: registry, logger: logger)
        var services: [any Service] = [StoreService(store: store), listener]
        if let peerListen = config.peerListen {
            services.append(PeerListener(address: peerListen, context: peerContext, group: group) { readiness.bound("peer", $0) })
        }
        services.append(PeerDialer(peers: config.peers, context: peerContext, group: group))
        var groupConfig = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfig.maximumGracefulShutdownDuration = Duration.seconds(10)
        try await ServiceGroup(configuration: groupConfig).run()
        logger.info("node stopped", metadata: ["node.id": "\(config.nodeID)"])
    }

    /// Creates the data directory and its parents (mode 0750); returns errno on failure.
    public static func makeDataDirectory(_ path: String) -> Int32? {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o750) != 0 && errno != EEXIST { return errno }
        }
        return nil
    }

    /// The trust list of the config plus this node's own key.
    static func trustList(_ config: NodeConfig, identity: NodeIdentity) throws -> TrustList {
        var list = try TrustList.parse(config.trust).get()
        list.insert(node: config.nodeID, key: identity.publicKey)
        return list
    }

    static func writeReadyFile(_ path: String, _ addresses: [String: HostPort]) {
        let text = "{" + addresses.keys.sorted().map { "\"\($0)\":\"\(addresses[$0]!)\"" }.joined(separator: ",") + "}\n"
        let tmp = path + ".tmp"
        guard let f = fopen(tmp, "w") else { return }
        fputs(text, f)
        fclose(f)
        rename(tmp, path)
    }
}

/// The live trust list (replaced on reload).
final class TrustBox: Sendable {
    let state: Mutex<TrustList>
    init(_ list: TrustList) { state = Mutex(list) }
    var value: TrustList { state.withLock { $0 } }
    func set(_ list: TrustList) { state.withLock { $0 = list } }
}

/// Calls `ready` once every listener has reported its bound address.
final class Readiness: Sendable {
    let expected: Int
    let ready: @Sendable ([String: HostPort]) -> Void
    let bound = Mutex<[String: HostPort]>([:])

    init(expected: Int, ready: @escaping @Sendable ([String: HostPort]) -> Void) {
        self.expected = expected
        self.ready = ready
    }

    func bound(_ name: String, _ address: HostPort) {
        let all = bound.withLock { b -> [String: HostPort]? in
            b[name] = address
            return b.count == expected ? b : nil
        }
        if let all { ready(all) }
    }
}

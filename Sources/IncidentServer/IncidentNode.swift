import EventStore
import IncidentModel
public import Logging
import NIOPosix
import Wire
import ServiceLifecycle

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
        let handler = RequestHandler(
            store: store, validator: EventValidator(sectors: config.sectors), config: config,
            publicKey: identity.publicKeyBase64, logger: logger)
        let listener = ClientListener(
            address: config.listen, handler: handler, maximumLineLength: config.maximumLineBytes,
            group: MultiThreadedEventLoopGroup.singleton, logger: logger
        ) { bound in
            if let readyFile { writeReadyFile(readyFile, client: bound) }
            logger.info("node ready", metadata: ["node.id": "\(config.nodeID)", "client.address": "\(bound)"])
        }
        var groupConfig = ServiceGroupConfiguration(
            services: [StoreService(store: store), listener], gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        groupConfig.maximumGracefulShutdownDuration = Duration.seconds(10)
        let group = ServiceGroup(configuration: groupConfig)
        try await group.run()
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

    static func writeReadyFile(_ path: String, client: HostPort) {
        let text = "{\"client\":\"\(client)\"}\n"
        let tmp = path + ".tmp"
        guard let f = fopen(tmp, "w") else { return }
        fputs(text, f)
        fclose(f)
        rename(tmp, path)
    }
}

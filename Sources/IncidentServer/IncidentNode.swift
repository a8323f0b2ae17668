import Dispatch
import EventStore
import IncidentModel
public import Logging
public import Metrics
public import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization
import Sync
import Systemd
public import Wire

#if canImport(Glibc)
import Glibc
#endif

/// One node: identity, store, listeners, dialer and (when it is the process) the
/// service-manager link, run as one ServiceGroup.
///
/// A value built from a config and injected `Options`; `run()` makes it a swift-service-lifecycle
/// `Service`, so it runs in incidentd's group or, in-process, in a test's (IncidentTestSupport's
/// `withNode`). `addresses()` waits until it is ready and gives the addresses its listeners got,
/// port 0 replaced by the real port.
///
/// Order in the group (shutdown runs in reverse): store, (projections), client listener, HTTP
/// listener, peer listener, dialer, notifier. So on SIGTERM the notifier says STOPPING=1 first, the dialer and
/// listeners stop, and the store flushes last. Shutdown is bounded: graceful for
/// `gracefulShutdownLimit`, then cancellation, and the process exits by `hardShutdownLimit`
/// whatever still hangs.
public struct IncidentNode: Service {
    public static let gracefulShutdownLimit = Duration.seconds(10)
    public static let hardShutdownLimit = Duration.seconds(20)

    /// What the node is handed besides its config.
    public struct Options: Sendable {
        /// The node is the process (incidentd): it takes the sockets systemd passed, talks to the
        /// service manager (READY=1, watchdog, status), shuts down on SIGTERM/SIGINT, reloads on
        /// SIGHUP and exits if shutdown hangs past `hardShutdownLimit`. A node built in-process
        /// does none of these: it stops when its service group shuts down.
        public var ownsProcess: Bool
        /// Receives `{"client":"HOST:PORT","http":"HOST:PORT","peer":"HOST:PORT"}` once the
        /// listeners are bound (`http` and `peer` when they run).
        public var readyFile: String?
        /// Run again on SIGHUP to reload; nil keeps the running config on SIGHUP.
        public var loader: ConfigLoader?
        /// The level every log handler reads; a reload sets it.
        public var logLevel: SharedLogLevel?
        /// Test-only changes to the store and peer sessions (`TestHooks`).
        public var testHooks: TestHooks
        /// Builds the HTTP listener (IncidentHTTP, which depends on this module) when
        /// `http_listen` is set or systemd passed a socket named `http`.
        public var http: (@Sendable (HTTPContext) throws -> any Service)?
        /// The event loops of the listeners and the dialer; NIO's shared group when nil. The
        /// caller owns a group it passes (the test harness gives each node its own and shuts it
        /// down afterwards).
        public var eventLoopGroup: (any EventLoopGroup)?
        /// The wall clock, in milliseconds since the epoch: the store's `recorded_at` and HLC
        /// stamps, and "now" for the freshness ages of the views and status. A test passes a clock
        /// it sets, to see ages and stamps without waiting. The system clock by default.
        public var wallClock: @Sendable () -> UInt64
        /// What the metrics recorded where they happen are made with: the store's append and
        /// fsync durations and events stored, the errors answered to clients. The process-wide
        /// factory by default (incidentd bootstraps it once, before the node is built); a node
        /// run inside a test's process passes the factory of a registry of its own
        /// (IncidentHTTP's `NodeMetrics.standalone()`), which its `/metrics` then reads.
        public var metricsFactory: any MetricsFactory

        public init(
            ownsProcess: Bool = false, readyFile: String? = nil, loader: ConfigLoader? = nil, logLevel: SharedLogLevel? = nil,
            testHooks: TestHooks = TestHooks(), http: (@Sendable (HTTPContext) throws -> any Service)? = nil,
            eventLoopGroup: (any EventLoopGroup)? = nil, wallClock: (@Sendable () -> UInt64)? = nil,
            metricsFactory: (any MetricsFactory)? = nil
        ) {
            self.eventLoopGroup = eventLoopGroup
            self.wallClock = wallClock ?? HybridLogicalClock.systemMillis
            self.metricsFactory = metricsFactory ?? MetricsSystem.factory
            self.ownsProcess = ownsProcess
            self.readyFile = readyFile
            self.loader = loader
            self.logLevel = logLevel
            self.testHooks = testHooks
            self.http = http
        }
    }

    /// The addresses the listeners got (port 0 replaced by the real port).
    public struct Addresses: Sendable, Equatable {
        public var client: HostPort
        /// When the peer listener runs.
        public var peer: HostPort?
        /// When the HTTP listener runs.
        public var http: HostPort?
    }

    /// `run()` ended before the node was ready, without an error of its own (e.g. cancelled).
    public struct StoppedBeforeReady: Error, CustomStringConvertible {
        public var description: String { "the node stopped before it was ready" }
    }

    public let config: NodeConfig
    public let options: Options
    let logger: Logger
    let ready = ReadySignal()

    public init(config: NodeConfig, options: Options = Options(), logger: Logger) {
        self.config = config
        self.options = options
        self.logger = logger
    }

    /// Waits until every listener is bound and the projections are loaded; throws what `run()`
    /// threw if it ended first.
    public func addresses() async throws -> Addresses {
        try await ready.wait()
    }

    /// Opens everything and runs until its service group shuts down (for the process: SIGTERM or
    /// SIGINT; SIGHUP reloads).
    public func run() async throws {
        do {
            try await run(reportingTo: ready)
            ready.fail(StoppedBeforeReady())
        } catch {
            ready.fail(error)
            throw error
        }
    }

    func run(reportingTo ready: ReadySignal) async throws {
        let config = self.config
        let options = self.options
        let logger = self.logger
        let notifier = SystemdNotifier()
        // Recovery comes before the service group; keep the watchdog fed meanwhile.
        let startupWatchdog = options.ownsProcess ? StartupWatchdog(notifier: notifier) : nil
        defer { startupWatchdog?.cancel() }
        let passed: (client: Int32?, peer: Int32?, http: Int32?) =
            options.ownsProcess ? Self.passedSockets(SocketActivation.take(), logger: logger) : (nil, nil, nil)

        if let code = Self.makeDataDirectory(config.dataDir) {
            throw NodeConfig.Failure(file: config.dataDir, key: "data_dir", reason: "cannot create: \(String(cString: strerror(code)))")
        }
        let identity = try Self.identity(config)
        // The data directory belongs to one node id: refused before the store opens when the
        // file names another; recorded once the store is open when there is none yet.
        let owner = try DataDirectoryOwner.recorded(in: config.dataDir)
        try DataDirectoryOwner.check(recorded: owner, config: config)
        var storeOptions = config.storeOptions
        storeOptions.wallClock = options.wallClock
        storeOptions.metricsFactory = options.metricsFactory
        let testHooks = options.testHooks
        testHooks.install(into: &storeOptions, logger: logger)
        let store = try EventStore(
            directory: config.dataDir, nodeID: config.nodeID, identity: identity, options: storeOptions, logger: logger)
        if owner == nil {
            if let other = DataDirectoryOwner.otherOwnOrigins(store: store, identity: identity, config: config).first {
                await store.close()
                throw DataDirectoryOwner.mismatch(owner: other, config: config, how: "its log holds events of origin \(other) signed with this node's key")
            }
            try DataDirectoryOwner.record(config.nodeID, in: config.dataDir)
        }
        let trust = TrustBox(try Self.trustList(config, identity: identity))
        let registry = PeerRegistry()
        let authority = try Self.clientAuthority(config, passedClientSocket: passed.client, logger: logger)
        let readinessBox = ReadinessBox()
        let projections = ProjectionService(store: store, sectors: config.sectors, directory: config.dataDir, logger: logger) {
            readinessBox.value?.done("projections")
        }
        let held = HeldEvents()
        let handler = RequestHandler(
            store: store, validator: EventValidator(sectors: config.sectors), config: config,
            publicKey: identity.publicKeyBase64, peers: registry, trust: { trust.value }, projections: projections, logger: logger,
            wallClock: options.wallClock, held: held, errors: ClientErrors(factory: options.metricsFactory),
            outsideFoldLock: options.testHooks.outsideFoldLock)

        // A passed peer socket runs the peer listener even when the config turns it off; the
        // address then only names it in logs until the bound one is known.
        let peerListen = passed.peer != nil ? (config.peerListen ?? HostPort(host: "0.0.0.0", port: 0)) : config.peerListen
        // Projections will join these parts ("projections", done once the snapshot is loaded).
        var parts: Set<String> = ["client", "projections"]
        if peerListen != nil { parts.insert("peer") }
        // Likewise a passed `http` socket runs the HTTP listener.
        let httpListen = passed.http != nil ? (config.httpListen ?? HostPort(host: "0.0.0.0", port: 0)) : config.httpListen
        if httpListen != nil, options.http != nil { parts.insert("http") }
        let readyFile = options.readyFile
        let readiness = Readiness(parts: parts) { addresses in
            if let readyFile { Self.writeReadyFile(readyFile, addresses) }
            ready.succeed(addresses)
            let list = addresses.keys.sorted().map { "\($0)=\(addresses[$0]!)" }.joined(separator: " ")
            logger.info("node ready", metadata: ["node.id": "\(config.nodeID)", "node.addresses": "\(list)"])
        }

        let group: any EventLoopGroup = options.eventLoopGroup ?? MultiThreadedEventLoopGroup.singleton
        let listener = ClientListener(
            address: config.listen, socket: passed.client, handler: handler, maximumLineLength: config.maximumLineBytes,
            limits: config.limits, authority: authority, tls: try TLSSetup.clientListener(config), group: group, logger: logger,
            appendQuietWindow: options.testHooks.appendQuietWindow ?? LoopTraffic.quietWindow
        ) { readiness.bound("client", $0) }
        var peerContext = PeerContext(
            store: store, identity: identity, nodeID: config.nodeID, trust: { trust.value }, registry: registry, logger: logger)
        peerContext.tls = try TLSSetup.peers(config)
        peerContext.held = held
        let lostEvents = LostEventWatch(store: store, registry: registry)
        peerContext.lostEvents = lostEvents
        peerContext.maximumBytesPerSecond = config.peerMaximumBytesPerSecond
        if !config.peerCompression { peerContext.session.compression = [] }
        testHooks.install(into: &peerContext.session, logger: logger)
        readinessBox.set(readiness)
        // Order matters: shutdown runs in reverse, so listeners stop, then the projections write
        // their snapshot, then the store flushes and closes.
        var services: [any Service] = [StoreService(store: store), projections, listener]
        if let httpListen, let makeHTTP = options.http {
            let loopback = passed.http.map(Self.socketIsLoopback) ?? httpListen.isLoopback
            if !loopback && config.tokens.isEmpty {
                throw NodeConfig.Failure(
                    file: "", key: "tokens",
                    reason: "the HTTP socket passed by systemd is not on loopback, so clients need tokens; configure tokens (docs/SECURITY.md)")
            }
            let api = NodeAPI(handler: handler, authority: authority, projections: projections, peers: registry, lineConnections: listener.connections)
            let context = HTTPContext(
                api: api, address: httpListen, socket: passed.http, isLoopback: loopback, tls: try TLSSetup.clientListener(config),
                limits: config.limits, maximumBodyBytes: config.maximumLineBytes, group: group, logger: logger
            ) { readiness.bound("http", $0) }
            services.append(try makeHTTP(context))
        }
        if let peerListen {
            services.append(
                PeerListener(address: peerListen, socket: passed.peer, context: peerContext, group: group) {
                    readiness.bound("peer", $0)
                })
        }
        let dialer = PeerDialer(peers: config.peers, context: peerContext, group: group)
        dialer.setRates(config.peerRates)
        services.append(dialer)
        lostEvents.configuredPeers { dialer.currentPeers }
        lostEvents.check()

        if options.ownsProcess {
            let reloader = Reloader(
                running: config, loader: options.loader, identity: identity, dialer: dialer, trust: trust, authority: authority,
                logLevel: options.logLevel, logger: logger)
            let status = StatusLine(store: store, registry: registry, dialer: dialer, quarantined: { projections.quarantine.count })
            let notifierService = NotifierService(
                notifier: notifier, readiness: readiness, status: { status.text() },
                probe: { timeout in await Self.livenessFailures(store: store, group: group, timeout: timeout) },
                reload: { await reloader.reload() },
                onShutdown: { Self.armHardShutdown(after: Self.hardShutdownLimit, logger: logger) }, logger: logger)
            services.append(notifierService)
        }

        var groupConfig = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: options.ownsProcess ? [.sigterm, .sigint] : [], logger: logger)
        groupConfig.maximumGracefulShutdownDuration = Self.gracefulShutdownLimit
        startupWatchdog?.cancel()
        try await ServiceGroup(configuration: groupConfig).run()
        logger.info("node stopped", metadata: ["node.id": "\(config.nodeID)"])
    }

    /// The sockets systemd passed, by FileDescriptorName: `client`, `peer` and `http`. Others are closed.
    static func passedSockets(_ activation: SocketActivation, logger: Logger) -> (client: Int32?, peer: Int32?, http: Int32?) {
        var client: Int32? = nil
        var peer: Int32? = nil
        var http: Int32? = nil
        for socket in activation.sockets {
            let usable = SocketActivation.isListeningStreamSocket(socket.fd)
            switch socket.name {
            case "client" where client == nil && usable: client = socket.fd
            case "peer" where peer == nil && usable: peer = socket.fd
            case "http" where http == nil && usable: http = socket.fd
            default:
                logger.warning(
                    "ignoring a socket passed by systemd: name it client, peer or http (FileDescriptorName=), one listening stream each",
                    metadata: ["systemd.socket_name": "\(socket.name)", "systemd.fd": "\(socket.fd)"])
                close(socket.fd)
                continue
            }
            logger.info("using a socket passed by systemd", metadata: ["systemd.socket_name": "\(socket.name)", "systemd.fd": "\(socket.fd)"])
        }
        return (client, peer, http)
    }

    /// The parts that did not answer the liveness probe within `timeout`: the store writer
    /// and each event loop.
    static func livenessFailures(store: EventStore, group: any EventLoopGroup, timeout: Duration) async -> [String] {
        async let writer = store.ping(timeout: timeout)
        async let loops = LivenessProbe.unresponsiveLoops(group, timeout: timeout)
        var failing = await writer ? [] : ["store-writer"]
        failing += await loops.map { "event-loop-\($0)" }
        return failing
    }

    /// From graceful shutdown on, the process has `limit` to exit; past it, it exits 1 (a
    /// service that ignores cancellation must not keep the node, and systemd, waiting).
    static func armHardShutdown(after limit: Duration, logger: Logger) {
        DispatchQueue.global().asyncAfter(deadline: .now() + limit.dispatchInterval) {
            logger.critical("shutdown did not finish in time; exiting", metadata: ["node.shutdown_limit": "\(limit)"])
            _exit(1)
        }
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

    /// The node's public key (base64) under `config`, creating `<data_dir>/node.key` on first
    /// use unless a `key_file` is configured: what `--print-public-key` prints.
    public static func publicKey(_ config: NodeConfig) throws -> String {
        try identity(config).publicKeyBase64
    }

    /// The node's identity under `config`: the `key_file`, else `<data_dir>/node.key`
    /// (created on first use).
    static func identity(_ config: NodeConfig) throws -> NodeIdentity {
        if let keyFile = config.keyFile { return try NodeIdentity.load(path: keyFile) }
        if let code = makeDataDirectory(config.dataDir) {
            throw NodeConfig.Failure(file: config.dataDir, key: "data_dir", reason: "cannot create: \(String(cString: strerror(code)))")
        }
        return try NodeIdentity.loadOrCreate(directory: config.dataDir)
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

/// The node's addresses once it is ready, or why it never was: `addresses()` waits on it.
final class ReadySignal: Sendable {
    typealias Waiter = CheckedContinuation<IncidentNode.Addresses, any Error>
    enum State {
        case waiting([Waiter])
        case ready(IncidentNode.Addresses)
        case failed(any Error)
    }
    let state = Mutex(State.waiting([]))

    func wait() async throws -> IncidentNode.Addresses {
        try await withCheckedThrowingContinuation { (continuation: Waiter) in
            let now = state.withLock { s -> Result<IncidentNode.Addresses, any Error>? in
                switch s {
                case .waiting(var list):
                    list.append(continuation)
                    s = .waiting(list)
                    return nil
                case .ready(let addresses): return .success(addresses)
                case .failed(let error): return .failure(error)
                }
            }
            if let now { continuation.resume(with: now) }
        }
    }

    func succeed(_ named: [String: HostPort]) {
        guard let client = named["client"] else { return }
        resolve(.success(IncidentNode.Addresses(client: client, peer: named["peer"], http: named["http"])))
    }

    /// Only before the node was ready: afterwards its addresses stay the answer.
    func fail(_ error: any Error) {
        resolve(.failure(error))
    }

    func resolve(_ result: Result<IncidentNode.Addresses, any Error>) {
        let waiting = state.withLock { s -> [Waiter] in
            guard case .waiting(let list) = s else { return [] }
            switch result {
            case .success(let addresses): s = .ready(addresses)
            case .failure(let error): s = .failed(error)
            }
            return list
        }
        for continuation in waiting { continuation.resume(with: result) }
    }
}

/// Lets the projection service, created before the readiness tracker, report to it.
final class ReadinessBox: Sendable {
    let state = Mutex<Readiness?>(nil)
    func set(_ r: Readiness) { state.withLock { $0 = r } }
    var value: Readiness? { state.withLock { $0 } }
}

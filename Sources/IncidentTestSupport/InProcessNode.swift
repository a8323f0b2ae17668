import Foundation
import NIOPosix
public import IncidentClient
public import IncidentServer
import Logging
public import Metrics
public import ServiceLifecycle
import Synchronization
public import Wire

#if canImport(Glibc)
import Glibc
#endif

/// What the tests read of a node under test, in-process (`InProcessNode`) or a real process
/// (`TestNode`), so that helpers take either.
public protocol NodeUnderTest: Sendable {
    var nodeID: String { get }
    var dataDir: String { get }
    /// The client listener's address (its real port).
    var client: HostPort { get }
    var peer: HostPort? { get }
    var http: HostPort? { get }
    /// What the node logged so far.
    var log: String { get }
}

/// A node running in the test's own process, as `withNode` hands it to the test body.
public struct InProcessNode: NodeUnderTest {
    public let node: IncidentNode
    public let addresses: IncidentNode.Addresses
    let logLines: LogLines

    public var config: NodeConfig { node.config }
    public var nodeID: String { node.config.nodeID }
    public var dataDir: String { node.config.dataDir }
    public var client: HostPort { addresses.client }
    public var peer: HostPort? { addresses.peer }
    public var http: HostPort? { addresses.http }
    public var log: String { logLines.text }
}

/// Starts a node in-process, in the style of Hummingbird's live test mode: on 127.0.0.1 port 0
/// (client and peer listeners), in a fresh temporary data directory; waits until it is ready;
/// runs `body` with the node and a connection to its client listener; then shuts the node down
/// gracefully and removes the directory, whether `body` returned or threw.
///
///     try await withNode(nodeID: "gao") { node, client in
///         let status = try await client.request(Requests.status)
///     }
///
/// The config is built as incidentd builds it (`ConfigLoader`): `configFile`, then `environment`
/// (`INCIDENTD_*` config variables), then `arguments` (incidentd's flags, e.g.
/// `["--fsync", "never", "--trust", "a=KEY"]`); then `configure` edits it. `hooks` are the
/// test-only changes (`TestHooks`). A node that fails to start throws its error here.
///
/// `body` runs on the Swift concurrency pool the node's listeners also run on: blocking socket
/// reads or waits on a child process belong on a thread of their own, or the node starves.
public func withNode<R: Sendable>(
    nodeID: String = "test", configFile: String? = nil, environment: [String: String] = [:], arguments: [String] = [],
    hooks: TestHooks = TestHooks(), configure: (inout NodeConfig) throws -> Void = { _ in },
    _ body: (InProcessNode, IncidentConnection) async throws -> R
) async throws -> R {
    try await withInProcessNode(
        nodeID: nodeID, configFile: configFile, environment: environment, arguments: arguments, hooks: hooks, configure: configure
    ) { node in
        try await IncidentConnection.withConnection(to: node.client) { try await body(node, $0) }
    }
}

/// `withNode` without the connection, for tests that count or shape the node's connections.
///
/// `http` is the HTTP listener's factory (`IncidentNode.Options.http`), for a node whose config
/// sets `http_listen`: this module does not depend on the HTTP listener, so the test passes it.
/// `metricsFactory` is what the node records its metrics with
/// (`IncidentNode.Options.metricsFactory`): for a node whose `/metrics` is read, the factory of
/// the registry its HTTP listener serves (IncidentHTTP's `NodeMetrics.standalone()`), so that
/// the node's figures are its own, apart from every other node of the test process.
/// `wallClock` is the node's clock (`IncidentNode.Options.wallClock`; the system's by default).
public func withInProcessNode<R: Sendable>(
    nodeID: String = "test", configFile: String? = nil, environment: [String: String] = [:], arguments: [String] = [],
    hooks: TestHooks = TestHooks(), http: (@Sendable (IncidentNode.HTTPContext) throws -> any Service)? = nil,
    metricsFactory: (any MetricsFactory)? = nil, wallClock: (@Sendable () -> UInt64)? = nil,
    configure: (inout NodeConfig) throws -> Void = { _ in }, _ body: (InProcessNode) async throws -> R
) async throws -> R {
    let dataDir = TestNode.temporaryDirectory(prefix: "incidentd-\(nodeID)")
    defer { removeTree(dataDir) }
    var config = try InProcessConfig.make(nodeID: nodeID, dataDir: dataDir, configFile: configFile, environment: environment, arguments: arguments)
    try configure(&config)
    return try await withNode(config: config, hooks: hooks, http: http, metricsFactory: metricsFactory, wallClock: wallClock, body)
}

/// Runs a node built from `config` as it stands (its data directory is the caller's and stays),
/// waits until it is ready, runs `body`, and shuts the node down gracefully afterwards. `http`,
/// `metricsFactory` and `wallClock` as for `withInProcessNode`.
public func withNode<R: Sendable>(
    config: NodeConfig, hooks: TestHooks = TestHooks(), http: (@Sendable (IncidentNode.HTTPContext) throws -> any Service)? = nil,
    metricsFactory: (any MetricsFactory)? = nil, wallClock: (@Sendable () -> UInt64)? = nil, _ body: (InProcessNode) async throws -> R
) async throws -> R {
    let lines = LogLines()
    let logger = Logger(label: "incidentd.\(config.nodeID)") { _ in CapturingLogHandler(lines: lines) }
    // Its own event loops, so that its connections do not queue behind other tests' work.
    let loops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let node = IncidentNode(
        config: config,
        options: IncidentNode.Options(
            testHooks: hooks, http: http, eventLoopGroup: loops, wallClock: wallClock, metricsFactory: metricsFactory), logger: logger)
    let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [node], logger: logger))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let result: Result<R, any Error>
        do {
            let addresses = try await node.addresses()
            result = .success(try await body(InProcessNode(node: node, addresses: addresses, logLines: lines)))
        } catch {
            result = .failure(error)
        }
        await group.triggerGracefulShutdown()
        // The body's error first (a node that could not start gives it via `addresses()`);
        // else a failure of the node's run.
        var stopError: (any Error)? = nil
        do {
            while try await tasks.next() != nil {}
        } catch {
            stopError = error
        }
        try? await loops.shutdownGracefully()
        let value = try result.get()
        if let stopError { throw stopError }
        return value
    }
}

/// The config `withInProcessNode` builds, for a test that runs it with `withNode(config:)`: to
/// restart a node on its directory, or to give nodes configs `withNodes` would not (each its
/// own environment). Loopback, port 0, in `dataDir`, which stays the caller's to remove.
public func inProcessConfig(
    nodeID: String, dataDir: String, configFile: String? = nil, environment: [String: String] = [:], arguments: [String] = []
) throws -> NodeConfig {
    try InProcessConfig.make(nodeID: nodeID, dataDir: dataDir, configFile: configFile, environment: environment, arguments: arguments)
}

/// The config of an in-process test node: loopback, port 0, the given data directory.
enum InProcessConfig {
    static func make(
        nodeID: String, dataDir: String, configFile: String?, environment: [String: String], arguments: [String]
    ) throws -> NodeConfig {
        let base: [String] = ["--node-id", nodeID, "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0"]
        return try ConfigLoader(file: configFile, environment: environment, flags: try flags(base + arguments)).load()
    }

    /// incidentd's flags as config keys: `--peer-listen X` sets `peer_listen`; `--peer` sets
    /// `peers` (comma-joined when repeated); `--trust` adds.
    static func flags(_ arguments: [String]) throws -> [ConfigLoader.Flag] {
        var out: [ConfigLoader.Flag] = []
        var peers: [String] = []
        var i = 0
        while i < arguments.count {
            let flag = arguments[i]
            guard flag.hasPrefix("--"), i + 1 < arguments.count else {
                throw TestNode.Failure(description: "an in-process node takes `--flag value` pairs; got \(arguments)")
            }
            let text = arguments[i + 1]
            i += 2
            switch flag {
            case "--peer": peers.append(text)
            case "--trust": out.append(ConfigLoader.Flag(flag: flag, key: "trust", text: text, adds: true))
            default: out.append(ConfigLoader.Flag(flag: flag, key: flag.dropFirst(2).replacingOccurrences(of: "-", with: "_"), text: text))
            }
        }
        if !peers.isEmpty { out.append(ConfigLoader.Flag(flag: "--peer", key: "peers", text: peers.joined(separator: ","))) }
        return out
    }
}

/// Removes `path` and everything under it.
func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// The lines a node logged, kept for `InProcessNode.log`.
final class LogLines: Sendable {
    let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

/// Keeps each message (info and up) with its metadata as incidentd writes it in logfmt (without
/// the timestamp), so a test reads the same `key=value` text from either kind of node.
struct CapturingLogHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        var line = "level=\(event.level) msg=\(StderrLogHandler.quote(event.message.description))"
        for key in all.keys.sorted() { line += " \(key)=\(StderrLogHandler.quote(all[key]!.description))" }
        lines.append(line)
    }
}

/// Several nodes in-process that trust each other, for sync tests: each gets its key, a fresh
/// temporary directory and port 0 before any starts, so every node's config trusts all the
/// others; they start in the order of `ids`, node `i` dialing the bound peer addresses of nodes
/// `0..<i`, or of those `dialing[ids[i]]` names (a topology: a line, a ring). `body` gets the
/// nodes in the order of `ids`; afterwards they shut down (the last started first) and their
/// directories are removed.
public func withNodes<R: Sendable>(
    _ ids: [String], arguments: [String] = ["--fsync", "never"], dialing: [String: [String]]? = nil, hooks: TestHooks = TestHooks(),
    _ body: ([InProcessNode]) async throws -> R
) async throws -> R {
    let dirs = ids.map { TestNode.temporaryDirectory(prefix: "incidentd-\($0)") }
    defer { dirs.forEach(removeTree) }
    var configs: [NodeConfig] = []
    for (id, dir) in zip(ids, dirs) {
        configs.append(try InProcessConfig.make(nodeID: id, dataDir: dir, configFile: nil, environment: [:], arguments: arguments))
    }
    for i in configs.indices {
        let key = try IncidentNode.publicKey(configs[i])
        for j in configs.indices where j != i { configs[j].trust[ids[i]] = key }
    }
    func start(_ i: Int, _ running: [InProcessNode]) async throws -> R {
        if i == configs.count { return try await body(running) }
        var config = configs[i]
        if let dialing {
            let names = dialing[ids[i]] ?? []
            guard names.allSatisfy({ name in running.contains { $0.nodeID == name } }) else {
                throw TestNode.Failure(description: "\(ids[i]) dials \(names): each must start before it")
            }
            config.peers = running.filter { names.contains($0.nodeID) }.compactMap(\.peer)
        } else {
            config.peers = running.compactMap(\.peer)
        }
        return try await withNode(config: config, hooks: hooks) { node in try await start(i + 1, running + [node]) }
    }
    return try await start(0, [])
}

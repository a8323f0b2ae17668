import ArgumentParser
import IncidentHTTP
import IncidentServer
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// incidentd: parses flags, loads the config, bootstraps logging, runs the node. Nothing else
/// lives here; the node is IncidentServer.IncidentNode.
@main
struct Incidentd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incidentd",
        abstract: "IncidentLog node: durable incident log, client API, replication.",
        discussion: """
            Configuration: the --config file (or INCIDENTD_CONFIG), then INCIDENTD_* environment variables, then these \
            flags; later wins. Without any, the built-in defaults apply (node dev, ./data/dev, 127.0.0.1:7400). \
            SIGHUP reloads peers, trust, log level and client tokens. See Config/README.md and docs/SECURITY.md.
            """)

    @Option(help: "Config file (JSON; see Config/README.md).")
    var config: String?

    @Option(name: .customLong("node-id"), help: "This node's id, e.g. gao.")
    var nodeID: String?

    @Option(name: .customLong("data-dir"), help: "Directory holding the key and the log.")
    var dataDir: String?

    @Option(help: "Client API address, HOST:PORT (port 0 picks a free port).")
    var listen: String?

    @Option(name: .customLong("peer-listen"), help: "Peer (replication) listener, HOST:PORT; \"off\" disables it.")
    var peerListen: String?

    @Option(name: .customLong("http-listen"), help: "HTTP listener (JSON API, event stream, metrics, dashboard), HOST:PORT; \"off\" disables it.")
    var httpListen: String?

    @Option(name: .customLong("peer"), help: "A peer to dial, HOST:PORT (repeatable; replaces the config's list).")
    var peers: [String] = []

    @Option(name: .customLong("trust"), help: "Trust a node's key: NODE=PUBLICKEY (repeatable; added to the config's list).")
    var trust: [String] = []

    @Option(help: "fsync policy: always (default) or never (tests and benchmarks only).")
    var fsync: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "auto (default), journald, logfmt or json.")
    var logFormat: String?

    @Option(name: .customLong("key-file"), help: "The node's private key file (must exist); default DATA_DIR/node.key.")
    var keyFile: String?

    @Option(
        name: .customLong("ready-file"), help: "Write {\"client\":\"HOST:PORT\",…} (and peer, http) here once listening (for supervisors and tests).")
    var readyFile: String?

    @Flag(name: .customLong("print-public-key"), help: "Print this node's public key (creating the key on first use) and exit.")
    var printPublicKey = false

    @Flag(
        name: .customLong("hash-token"),
        help: "Read a client token on stdin (one trailing newline ignored), print its SHA-256 for the config's tokens, and exit.")
    var hashToken = false

    /// The flags that set config keys, in the order they apply.
    var flags: [ConfigLoader.Flag] {
        var out: [ConfigLoader.Flag] = []
        func add(_ flag: String, _ key: String, _ text: String?) {
            if let text { out.append(ConfigLoader.Flag(flag: flag, key: key, text: text)) }
        }
        add("--node-id", "node_id", nodeID)
        add("--data-dir", "data_dir", dataDir)
        add("--listen", "listen", listen)
        add("--peer-listen", "peer_listen", peerListen)
        add("--http-listen", "http_listen", httpListen)
        if !peers.isEmpty { add("--peer", "peers", peers.joined(separator: ",")) }
        for t in trust { out.append(ConfigLoader.Flag(flag: "--trust", key: "trust", text: t, adds: true)) }
        add("--fsync", "fsync", fsync)
        add("--log-level", "log_level", logLevel)
        add("--log-format", "log_format", logFormat)
        add("--key-file", "key_file", keyFile)
        return out
    }

    mutating func run() async throws {
        if hashToken {
            print(ClientToken.digest(Self.tokenFromStandardInput()))
            return
        }
        let environment = ProcessInfoEnvironment.current
        let loader = ConfigLoader(file: config, environment: environment, flags: flags)
        let node: NodeConfig
        do {
            node = try loader.load()
        } catch {
            fail("\(error)")
        }

        if printPublicKey {
            do {
                print(try IncidentNode.publicKey(node))
            } catch {
                fail("\(error)")
            }
            return
        }

        let level = SharedLogLevel(Logger.Level(rawValue: node.logLevel) ?? .info)
        NodeLogging.bootstrap(NodeLogging.resolve(node.logFormat, environment: environment), level: level)
        let logger = Logger(label: "incidentd")
        // Before the node's options are made: they take `MetricsSystem.factory`, so every metric
        // the node records goes into this registry.
        let metrics = NodeMetrics.bootstrap()
        do {
            let options = IncidentNode.Options(
                ownsProcess: true, readyFile: readyFile, loader: loader, logLevel: level, testHooks: TestHooks(environment: environment),
                http: { context in HTTPListener(context, metrics: metrics) })
            try await IncidentNode(config: node, options: options, logger: logger).run()
        } catch {
            logger.critical("node failed", metadata: ["error": "\(error)"])
            fail("\(error)")
        }
    }

    /// Standard input without one trailing newline (`echo TOKEN |` and `printf %s TOKEN |` agree).
    static func tokenFromStandardInput() -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes += chunk[0..<n]
        }
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    func fail(_ message: String) -> Never {
        var line = Array("incidentd: \(message)\n".utf8)
        _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
        Glibc.exit(1)
    }
}

/// The process environment as a dictionary, read once.
enum ProcessInfoEnvironment {
    static var current: [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") { out[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
            p += 1
        }
        return out
    }
}

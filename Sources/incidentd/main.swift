import ArgumentParser
import EventStore
import IncidentModel
import IncidentServer
import Logging
import Wire

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
        discussion: "Flags override the config file; without --config the embedded defaults apply (node dev, ./data/dev, 127.0.0.1:7400).")

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

    @Option(name: .customLong("peer"), help: "A peer to dial, HOST:PORT (repeatable; replaces the config's list).")
    var peers: [String] = []

    @Option(name: .customLong("trust"), help: "Trust a node's key: NODE=PUBLICKEY (repeatable; added to the config's list).")
    var trust: [String] = []

    @Option(help: "fsync policy: always (default) or never (tests and benchmarks only).")
    var fsync: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String?

    @Option(name: .customLong("ready-file"), help: "Write {\"client\":\"HOST:PORT\"} here once listening (for supervisors and tests).")
    var readyFile: String?

    @Flag(name: .customLong("print-public-key"), help: "Print this node's public key (creating the key on first use) and exit.")
    var printPublicKey = false

    mutating func run() async throws {
        var node = NodeConfig()
        do {
            if let config { node = try NodeConfig.load(file: config) }
        } catch {
            fail("\(error)")
        }
        if let nodeID {
            guard NodeID.isValid(nodeID) else { fail("--node-id: 1-63 characters of a-z 0-9 _ -") }
            node.nodeID = nodeID
        }
        if let dataDir { node.dataDir = dataDir }
        if let listen {
            guard let hp = HostPort(listen) else { fail("--listen: expected HOST:PORT, got \(listen)") }
            node.listen = hp
        }
        if let peerListen {
            if peerListen == "off" {
                node.peerListen = nil
            } else {
                guard let hp = HostPort(peerListen) else { fail("--peer-listen: expected HOST:PORT or off, got \(peerListen)") }
                node.peerListen = hp
            }
        }
        if !peers.isEmpty {
            node.peers = []
            for p in peers {
                guard let hp = HostPort(p) else { fail("--peer: expected HOST:PORT, got \(p)") }
                node.peers.append(hp)
            }
        }
        for t in trust {
            guard let (id, key) = NodeConfig.parseTrust(t) else { fail("--trust: expected NODE=BASE64KEY, got \(t)") }
            node.trust[id] = key
        }
        if let fsync {
            guard let p = FsyncPolicy(rawValue: fsync) else { fail("--fsync: expected always or never, got \(fsync)") }
            node.fsync = p
        }
        if let logLevel {
            guard NodeConfig.logLevels.contains(logLevel) else { fail("--log-level: unknown level \(logLevel)") }
            node.logLevel = logLevel
        }

        if printPublicKey {
            do {
                if let code = IncidentNode.makeDataDirectory(node.dataDir) { fail("\(node.dataDir): \(String(cString: strerror(code)))") }
                let identity = try NodeIdentity.loadOrCreate(directory: node.dataDir)
                print(identity.publicKeyBase64)
            } catch {
                fail("\(error)")
            }
            return
        }

        let level = Logger.Level(rawValue: node.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = LogfmtLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "incidentd")
        do {
            try await IncidentNode.run(config: node, readyFile: readyFile, logger: logger)
        } catch {
            logger.critical("node failed", metadata: ["error": "\(error)"])
            fail("\(error)")
        }
    }

    func fail(_ message: String) -> Never {
        var line = Array("incidentd: \(message)\n".utf8)
        _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
        Glibc.exit(1)
    }
}

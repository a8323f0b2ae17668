import Foundation
import IncidentClient
import IncidentModel
import IncidentServer
import IncidentTestSupport
import Testing
import Wire

#if canImport(Glibc)
import Glibc
#endif

@Suite("Configuration: layers, bad configs, reload")
struct ConfigTests {
    struct BadConfig: Sendable, CustomTestStringConvertible {
        var name: String
        /// The config file's content; nil passes a path that does not exist, "" a directory.
        var file: String?
        var environment: [String: String] = [:]
        var arguments: [String] = []
        /// What stderr must say (after the file's path, when `file` is set).
        var expected: String
        var testDescription: String { name }
    }

    static let badConfigs: [BadConfig] = [
        BadConfig(name: "unknown key", file: #"{"node_id":"x","segmnt_mb":64}"#, expected: "segmnt_mb: unknown key"),
        BadConfig(name: "wrong type", file: #"{"segment_mb":"64"}"#, expected: "segment_mb: expected integer, got string"),
        BadConfig(name: "wrong list", file: #"{"peers":"127.0.0.1:7401"}"#, expected: "peers: expected an array of HOST:PORT strings"),
        BadConfig(name: "bad peer", file: #"{"peers":["gao"]}"#, expected: "peers[0]: expected HOST:PORT"),
        BadConfig(name: "bad log format", file: #"{"log_format":"xml"}"#, expected: "log_format: expected one of auto, journald, logfmt, json"),
        BadConfig(name: "missing key file", file: #"{"key_file":"/nonexistent/incidentlog/node.key"}"#,
            expected: "key_file: cannot read the key file /nonexistent/incidentlog/node.key: No such file or directory"),
        BadConfig(name: "not JSON", file: #"{"node_id": "gao",}"#, expected: "invalid JSON"),
        BadConfig(name: "missing file", file: nil, expected: "cannot read the file: No such file or directory"),
        BadConfig(name: "unreadable file", file: "", expected: "cannot read the file: Is a directory"),
        BadConfig(
            name: "environment wrong type", file: "{}", environment: ["INCIDENTD_SEGMENT_MB": "big"],
            expected: "environment: INCIDENTD_SEGMENT_MB: expected an integer, got big"),
        BadConfig(
            name: "environment unknown variable", file: "{}", environment: ["INCIDENTD_LISTN": "127.0.0.1:1"],
            expected: "environment: INCIDENTD_LISTN: unknown variable"),
        BadConfig(name: "bad flag", file: "{}", arguments: ["--peer", "gao"], expected: "--peer: expected HOST:PORT, got gao"),
        BadConfig(name: "http_listen not a string", file: #"{"http_listen":7480}"#, expected: #"http_listen: expected HOST:PORT, "off" or null"#),
        BadConfig(name: "http_listen without a host", file: #"{"http_listen":"7480"}"#, expected: "http_listen: expected HOST:PORT or off, got 7480"),
        BadConfig(
            name: "environment http_listen", file: "{}", environment: ["INCIDENTD_HTTP_LISTEN": "nowhere"],
            expected: "environment: INCIDENTD_HTTP_LISTEN: expected HOST:PORT or off, got nowhere"),
        BadConfig(
            name: "http listener off loopback without tokens", file: "{}", arguments: ["--http-listen", "0.0.0.0:7480"],
            expected: "tokens: the HTTP listener 0.0.0.0:7480 is not on loopback, so clients need tokens"),
    ]

    /// Exits 1 at once, names the file (or environment/flag) and the key, creates nothing.
    @Test(arguments: badConfigs)
    func badConfigFailsFastNamingTheKey(_ bad: BadConfig) async throws {
        let dir = TestNode.temporaryDirectory(prefix: "badconfig")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/node.json"
        switch bad.file {
        case nil: break
        case ""?: try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        case let text?: try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        }
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("INCIDENTD_") || $0.key == "INCIDENTD_BIN" }
        environment.merge(bad.environment) { _, new in new }
        let started = ContinuousClock.now
        let run = try await ChildProcess.run(
            TestNode.binaryPath, ["--config", path, "--data-dir", dir + "/data", "--listen", "127.0.0.1:0"] + bad.arguments,
            environment: environment)
        #expect(run.status == 1, "\(run.stderr)")
        #expect(ContinuousClock.now - started < .seconds(5))
        let expectedPlace = bad.environment.isEmpty && bad.arguments.isEmpty ? "incidentd: \(path): " : "incidentd: "
        #expect(run.stderr.hasPrefix(expectedPlace), "\(run.stderr)")
        #expect(run.stderr.contains(bad.expected), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/data"), "nothing is created for a bad config")
    }

    /// Every integer key has a range, checked the same way in the file, the environment and the
    /// flags, and the refusal names the key: values past it used to wrap (`segment_mb` of 2⁴⁴
    /// became 0 MiB, a `disk_reserve_mb` as large turned the reserve off).
    @Test func everyIntegerKeyIsRangeCheckedInEveryLayer() throws {
        let dir = TestNode.temporaryDirectory(prefix: "ranges")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/node.json"
        func refusal(_ loader: ConfigLoader) -> String {
            do {
                _ = try loader.load()
                return "accepted"
            } catch {
                return error.description
            }
        }
        func file(_ text: String) throws -> ConfigLoader {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return ConfigLoader(file: path, environment: [:], flags: [])
        }
        #expect(NodeConfig.integerKeys.count == 13)
        for spec in NodeConfig.integerKeys {
            let env = NodeConfig.environmentName(spec.key)
            for (value, reason) in [(spec.min - 1, "must be at least \(spec.min)"), (spec.max + 1, "must be at most \(spec.max)")] {
                #expect(try refusal(file(#"{"\#(spec.key)":\#(value)}"#)) == "\(path): \(spec.key): \(reason)")
                #expect(refusal(ConfigLoader(file: nil, environment: [env: "\(value)"], flags: [])) == "environment: \(env): \(reason)")
                let flag = ConfigLoader.Flag(flag: "--\(spec.key)", key: spec.key, text: "\(value)")
                #expect(refusal(ConfigLoader(file: nil, environment: [:], flags: [flag])) == "--\(spec.key): \(reason)")
            }
            for value in [spec.min, spec.max] {
                #expect(try refusal(file(#"{"\#(spec.key)":\#(value)}"#)) == "accepted", "\(spec.key) \(value)")
                #expect(refusal(ConfigLoader(file: nil, environment: [env: "\(value)"], flags: [])) == "accepted", "\(spec.key) \(value)")
            }
        }
        // The values of the review: each would have wrapped or trapped.
        #expect(try refusal(file(#"{"segment_mb":17592186044416}"#)) == "\(path): segment_mb: must be at most 2048")
        #expect(try refusal(file(#"{"segment_mb":4096}"#)) == "\(path): segment_mb: must be at most 2048")
        #expect(
            refusal(ConfigLoader(file: nil, environment: ["INCIDENTD_DISK_RESERVE_MB": "17592186044416"], flags: []))
                == "environment: INCIDENTD_DISK_RESERVE_MB: must be at most 1048576")
        let config = try ConfigLoader(file: nil, environment: ["INCIDENTD_SEGMENT_MB": "2048", "INCIDENTD_DISK_RESERVE_MB": "1048576"], flags: []).load()
        #expect(config.segmentBytes == 2048 << 20)
        #expect(config.diskReserveBytes == 1 << 40)
    }

    /// File, then environment, then flags: each key from the last layer that sets it.
    @Test func flagsBeatEnvironmentWhichBeatsTheFile() async throws {
        let dir = TestNode.temporaryDirectory(prefix: "layers")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/node.json"
        try Data(#"{"node_id":"from-file","peers":["127.0.0.1:9"],"max_events_per_append":1}"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        let node = TestNode(nodeID: "from-flag", extraArguments: ["--config", file, "--fsync", "never"])
        node.environment = ["INCIDENTD_NODE_ID": "from-env", "INCIDENTD_PEERS": "127.0.0.1:10, 127.0.0.1:11"]
        defer {
            node.discard()
        }
        try await node.start()
        let status = try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
        #expect(status["node"]?.stringValue == "from-flag", "--node-id beats INCIDENTD_NODE_ID and the file")
        let dialed = Set((status["peers"]?.arrayValue ?? []).compactMap { $0["address"]?.stringValue })
        #expect(dialed == ["127.0.0.1:10", "127.0.0.1:11"], "INCIDENTD_PEERS replaces the file's peers: \(dialed)")
        let two = Requests.append(eventObjects: [Self.incident("l-1"), Self.incident("l-2")])
        await #expect(throws: ClientError.self, "the file's max_events_per_append (1) stands") {
            try await IncidentConnection.withConnection(to: node.client) { try await $0.request(two) }
        }
    }

    /// Editing the config file and sending SIGHUP adds a peer: the node dials it and replicates,
    /// while its session with the peer it already had stays up.
    @Test func sighupAddsAPeerThatTheNodeDials() async throws {
        let a = TestNode(nodeID: "a")
        let b = TestNode(nodeID: "b")
        let c = TestNode(nodeID: "c")
        let keys = try await ["a": a.publicKey(), "b": b.publicKey(), "c": c.publicKey()]
        let trust = keys.sorted { $0.key < $1.key }.flatMap { ["--trust", "\($0.key)=\($0.value)"] }
        let config = a.dataDir + ".json"
        let nodeA = TestNode(nodeID: "a", dataDir: a.dataDir, extraArguments: ["--config", config, "--fsync", "never"] + trust)
        let nodeB = TestNode(nodeID: "b", dataDir: b.dataDir, extraArguments: ["--fsync", "never"] + trust)
        let nodeC = TestNode(nodeID: "c", dataDir: c.dataDir, extraArguments: ["--fsync", "never"] + trust)
        defer {
            for n in [nodeA, nodeB, nodeC] {
                n.discard()
            }
            try? FileManager.default.removeItem(atPath: config)
        }
        try await nodeB.start()
        try await nodeC.start()
        let bPeer = try #require(nodeB.peer)
        let cPeer = try #require(nodeC.peer)
        try Data(#"{"peers":["\#(bPeer)"],"log_level":"warning"}"#.utf8).write(to: URL(fileURLWithPath: config))
        try await nodeA.start()
        let before = try await Self.waitForSession(nodeA, to: bPeer)
        #expect(!nodeA.log.contains("level=info"), "log_level warning from the file")

        try Data(#"{"peers":["\#(bPeer)","\#(cPeer)"],"log_level":"info"}"#.utf8).write(to: URL(fileURLWithPath: config))
        nodeA.send(signal: SIGHUP)
        _ = try await Self.waitForSession(nodeA, to: cPeer)
        let after = try await Self.waitForSession(nodeA, to: bPeer)
        #expect(after == before, "the session with b was not dropped by the reload")
        #expect(nodeA.process?.isRunning == true, "reloaded without a restart")
        #expect(nodeA.log.contains("level=info msg=\"configuration reloaded\" config.applied=peers,log_level"), "\(nodeA.log)")

        _ = try await IncidentConnection.withConnection(to: nodeC.client) {
            try await $0.request(Requests.append(eventObjects: [Self.incident("from-c")]))
        }
        let deadline = ContinuousClock.now + .seconds(20)
        var vector = VersionVector()
        while ContinuousClock.now < deadline {
            vector = try await TestCluster.vector(nodeA)
            if vector["c"] >= 1 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(vector["c"] == 1, "a replicated c's event over the new session")
    }

    /// Waits until `node` has an established outbound session to `peer`; returns its `since`.
    static func waitForSession(_ node: TestNode, to peer: HostPort) async throws -> String {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let status = try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
            for p in status["peers"]?.arrayValue ?? [] where p["address"]?.stringValue == peer.description {
                if p["connected"]?.boolValue == true, let since = p["since"]?.stringValue { return since }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestFailure("no session from \(node.nodeID) to \(peer); log:\n\(node.log)")
    }

    static func incident(_ id: String) -> [UInt8] {
        Array(
            #"{"type":"incident.reported","sector":"east","data":{"incident_id":"\#(id)","category":"ied","summary":"IED on RN16","occurred_at":"2026-11-28T06:40:00Z","location":{"name":"RN16 km 12","lat":16.17,"lon":-0.02}}}"#
                .utf8)
    }
}

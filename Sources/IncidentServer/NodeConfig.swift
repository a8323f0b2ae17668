public import EventStore
public import IncidentModel
public import Wire

/// The node's configuration: a JSON file (Config/README.md documents every key), then the
/// command-line flags over it.
public struct NodeConfig: Sendable, Equatable {
    public var nodeID = "dev"
    public var dataDir = "./data/dev"
    public var listen = HostPort(host: "127.0.0.1", port: 7400)
    public var fsync: FsyncPolicy = .always
    public var sectors = Sectors.defaultList
    public var diskReserveBytes: UInt64 = 256 << 20
    public var segmentBytes: UInt64 = 64 << 20
    public var maximumLineBytes = 1 << 20
    public var maximumEventsPerAppend = 10_000
    public var logLevel = "info"
    /// Peer listener; nil disables it.
    public var peerListen: HostPort? = HostPort(host: "127.0.0.1", port: 7401)
    /// Peers this node dials.
    public var peers: [HostPort] = []
    /// node id → base64 Ed25519 public key.
    public var trust: [String: String] = [:]

    public init() {}

    /// The keys a config file may hold; anything else is refused by name.
    public static let keys = [
        "node_id", "data_dir", "listen", "fsync", "sectors", "disk_reserve_mb", "segment_mb", "max_line_bytes",
        "max_events_per_append", "log_level", "peer_listen", "peers", "trust",
    ]

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// A bad config: which file and key, and why.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var file: String
        public var key: String?
        public var reason: String
        public var description: String {
            if let key { return "\(file): \(key): \(reason)" }
            return "\(file): \(reason)"
        }
    }

    /// Reads a config file over the defaults. Unknown keys and wrong types are errors.
    public static func load(file: String) throws(Failure) -> NodeConfig {
        guard let bytes = readFile(file) else {
            throw Failure(file: file, key: nil, reason: "cannot read the file")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw Failure(file: file, key: nil, reason: error.description)
        }
        return try NodeConfig(json: json, file: file)
    }

    public init(json: JSONValue, file: String) throws(Failure) {
        guard let members = json.objectMembers else { throw Failure(file: file, key: nil, reason: "expected a JSON object") }
        func fail(_ key: String, _ reason: String) -> Failure { Failure(file: file, key: key, reason: reason) }
        for m in members where !Self.keys.contains(m.key) {
            throw fail(m.key, "unknown key (known: \(Self.keys.joined(separator: ", ")))")
        }
        func string(_ key: String) throws(Failure) -> String? {
            guard let v = json[key] else { return nil }
            guard let s = v.stringValue else { throw fail(key, "expected string, got \(v.kindName)") }
            return s
        }
        func integer(_ key: String, min: Int64) throws(Failure) -> Int64? {
            guard let v = json[key] else { return nil }
            guard let n = v.integerValue else { throw fail(key, "expected integer, got \(v.kindName)") }
            guard n >= min else { throw fail(key, "must be at least \(min)") }
            return n
        }
        if let id = try string("node_id") {
            guard NodeID.isValid(id) else { throw fail("node_id", "1-63 characters of a-z 0-9 _ -, starting with a letter or digit") }
            nodeID = id
        }
        if let dir = try string("data_dir") { dataDir = dir }
        if let l = try string("listen") {
            guard let hp = HostPort(l) else { throw fail("listen", "expected HOST:PORT") }
            listen = hp
        }
        if let f = try string("fsync") {
            guard let p = FsyncPolicy(rawValue: f) else { throw fail("fsync", "expected always or never") }
            fsync = p
        }
        if let v = json["sectors"] {
            guard let a = v.arrayValue, !a.isEmpty, a.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
                throw fail("sectors", "expected a non-empty array of strings")
            }
            sectors = a.compactMap(\.stringValue)
        }
        if let n = try integer("disk_reserve_mb", min: 0) { diskReserveBytes = UInt64(n) << 20 }
        if let n = try integer("segment_mb", min: 1) {
            // Line positions within a segment are 32-bit.
            guard n <= 2048 else { throw fail("segment_mb", "must be at most 2048") }
            segmentBytes = UInt64(n) << 20
        }
        if let n = try integer("max_line_bytes", min: 1024) { maximumLineBytes = Int(n) }
        if let n = try integer("max_events_per_append", min: 1) { maximumEventsPerAppend = Int(n) }
        if let v = json["peer_listen"] {
            if case .null = v {
                peerListen = nil
            } else if v.stringValue == "off" {
                peerListen = nil
            } else {
                guard let text = v.stringValue, let hp = HostPort(text) else { throw fail("peer_listen", "expected HOST:PORT, \"off\" or null") }
                peerListen = hp
            }
        }
        if let v = json["peers"] {
            guard let a = v.arrayValue else { throw fail("peers", "expected an array of HOST:PORT strings") }
            peers = []
            for (i, e) in a.enumerated() {
                guard let text = e.stringValue, let hp = HostPort(text) else { throw fail("peers[\(i)]", "expected HOST:PORT") }
                peers.append(hp)
            }
        }
        if let v = json["trust"] {
            guard let members = v.objectMembers else { throw fail("trust", "expected an object of node id → public key") }
            trust = [:]
            for m in members {
                guard NodeID.isValid(m.key) else { throw fail("trust.\(m.key)", "invalid node id") }
                guard let key = m.value.stringValue, NodeIdentity.publicKey(base64: key) != nil else {
                    throw fail("trust.\(m.key)", "expected a base64 Ed25519 public key (incidentd --print-public-key prints one)")
                }
                trust[m.key] = key
            }
        }
        if let level = try string("log_level") {
            guard Self.logLevels.contains(level) else { throw fail("log_level", "expected one of \(Self.logLevels.joined(separator: ", "))") }
            logLevel = level
        }
    }

    /// Parses `--trust NODE=KEY` / config trust entries into a list (own key added by the node).
    public static func parseTrust(_ entry: String) -> (node: String, key: String)? {
        guard let eq = entry.firstIndex(of: "=") else { return nil }
        let node = String(entry[..<eq])
        let key = String(entry[entry.index(after: eq)...])
        guard NodeID.isValid(node), NodeIdentity.publicKey(base64: key) != nil else { return nil }
        return (node, key)
    }

    /// Store options that follow from this config.
    public var storeOptions: StoreOptions {
        var o = StoreOptions()
        o.fsync = fsync
        o.segmentBytes = segmentBytes
        o.diskReserveBytes = diskReserveBytes
        return o
    }
}

#if canImport(Glibc)
import Glibc
#endif

func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n > 0 { out.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count { break }
    }
    return ferror(f) == 0 ? out : nil
}

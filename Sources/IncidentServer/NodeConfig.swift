public import EventStore
public import IncidentModel
public import Wire

#if canImport(Glibc)
import Glibc
#endif

/// The node's configuration: a JSON file, then `INCIDENTD_*` environment variables, then the
/// command-line flags, each layer over the one before (`ConfigLoader`). Config/README.md
/// documents every key; `keys` is the list a file may hold.
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
    /// Where logs go; `auto` decides at start (see `LogFormat`).
    public var logFormat: LogFormat = .auto
    /// Peer listener; nil disables it.
    public var peerListen: HostPort? = HostPort(host: "127.0.0.1", port: 7401)
    /// The HTTP listener (JSON API, event stream, metrics, dashboard; docs/HTTP.md); nil: off.
    public var httpListen: HostPort? = nil
    /// Peers this node dials.
    public var peers: [HostPort] = []
    /// Most bytes a second written to any one peer, on the wire (`peer_max_bytes_per_second`; nil: no cap).
    public var peerMaximumBytesPerSecond: Int? = nil
    /// Per dialed peer (`HOST:PORT` as in `peers`), a cap that replaces the node-wide one (`peer_rates`).
    public var peerRates: [String: Int] = [:]
    /// Whether peer links offer compression in hello (`peer_compression`).
    public var peerCompression = true
    /// node id → base64 Ed25519 public key.
    public var trust: [String: String] = [:]
    /// The node's private key; nil means `<data_dir>/node.key`, created on first start. A file
    /// named here must exist: it is never created.
    public var keyFile: String? = nil
    // Client tokens, TLS, and the limits of the client API (parsed in NodeConfig+Security.swift).
    /// Client tokens, stored hashed; see `ClientToken`.
    public var tokens: [ClientToken] = []
    /// Anonymous clients get `hq`; nil means: exactly when `listen` is on loopback.
    public var allowAnonymousLoopback: Bool? = nil
    /// PEM certificate chain and key of the client listener; both nil: no TLS.
    public var tlsCert: String? = nil
    public var tlsKey: String? = nil
    /// PEM certificate, key and CA of the peer listener and dialer (mutual TLS); all nil: no TLS.
    public var peerTLSCert: String? = nil
    public var peerTLSKey: String? = nil
    public var peerTLSCA: String? = nil
    public var limits = ClientLimits()

    public init() {}

    /// The keys a config file may hold; anything else is refused by name.
    public static let keys =
        [
            "node_id", "data_dir", "listen", "fsync", "sectors", "disk_reserve_mb", "segment_mb", "max_line_bytes",
            "max_events_per_append", "log_level", "log_format", "peer_listen", "peers", "trust", "key_file",
            "peer_max_bytes_per_second", "peer_rates", "peer_compression", "http_listen",
        ] + securityKeys

    /// An integer key and the values it may take.
    public struct IntegerKey: Sendable {
        public var key: String
        public var min: Int64
        public var max: Int64
    }

    /// Every integer key and its range (Config/README.md lists the same). The upper bounds keep
    /// each value clear of overflow where it is used: MiB are shifted into bytes (`UInt64 << 20`),
    /// milliseconds become `Duration`s and NIO `TimeAmount`s (nanoseconds in an `Int64`), and a
    /// segment's line offsets are `UInt32`, so a segment must stay below 4 GiB even after the
    /// commit that crosses `segment_mb` (at most 4 MiB, or one request: `max_line_bytes` plus
    /// the envelopes of at most `max_events_per_append` events, well under 2 GiB).
    public static let integerKeys: [IntegerKey] = [
        IntegerKey(key: "disk_reserve_mb", min: 0, max: 1 << 20),
        IntegerKey(key: "segment_mb", min: 1, max: 2048),
        IntegerKey(key: "max_line_bytes", min: 1024, max: 64 << 20),
        IntegerKey(key: "max_events_per_append", min: 1, max: 1_000_000),
        IntegerKey(key: "peer_max_bytes_per_second", min: 0, max: 1 << 40),
        IntegerKey(key: "max_connections", min: 1, max: 1 << 20),
        IntegerKey(key: "max_connections_per_address", min: 1, max: 1 << 20),
        IntegerKey(key: "max_pending_output_bytes", min: 65536, max: 1 << 30),
        IntegerKey(key: "slow_consumer_timeout_ms", min: 100, max: 86_400_000),
        IntegerKey(key: "requests_per_second", min: 0, max: 10_000_000),
        IntegerKey(key: "request_burst", min: 1, max: 10_000_000),
        IntegerKey(key: "idle_timeout_ms", min: 100, max: 86_400_000),
        IntegerKey(key: "handshake_timeout_ms", min: 100, max: 86_400_000),
    ]

    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// A bad config: which file (or `environment`, or empty for a flag) and key, and why.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var file: String
        public var key: String?
        public var reason: String
        public var description: String {
            let place = [file, key].compactMap { $0 }.filter { !$0.isEmpty }
            return (place + [reason]).joined(separator: ": ")
        }

        public init(file: String, key: String?, reason: String) {
            self.file = file
            self.key = key
            self.reason = reason
        }
    }

    /// Reads a config file over the defaults. Unknown keys and wrong types are errors.
    public static func load(file: String) throws(Failure) -> NodeConfig {
        var config = NodeConfig()
        try config.apply(file: file)
        return config
    }

    /// Reads a config file over `self`: the keys it holds replace the values here.
    public mutating func apply(file: String) throws(Failure) {
        let bytes: [UInt8]
        switch readFile(file) {
        case .success(let b): bytes = b
        case .failure(let error): throw Failure(file: file, key: nil, reason: "cannot read the file: \(String(cString: strerror(error.code)))")
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(bytes)
        } catch {
            throw Failure(file: file, key: nil, reason: error.description)
        }
        try apply(json: json, file: file)
    }

    public init(json: JSONValue, file: String) throws(Failure) {
        try apply(json: json, file: file)
    }

    /// Applies a parsed config object over `self`.
    public mutating func apply(json: JSONValue, file: String) throws(Failure) {
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
        /// A string key whose text form is parsed by `set(_:text:)`, the same as for the
        /// environment and flags.
        func text(_ key: String) throws(Failure) {
            guard let s = try string(key) else { return }
            do {
                try set(key, text: s)
            } catch {
                throw fail(key, error.reason)
            }
        }
        for key in ["node_id", "data_dir", "listen", "fsync", "log_level", "log_format", "key_file"] { try text(key) }
        if let v = json["sectors"] {
            guard let a = v.arrayValue, !a.isEmpty, a.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
                throw fail("sectors", "expected a non-empty array of strings")
            }
            sectors = a.compactMap(\.stringValue)
        }
        // Integer keys: the JSON integer goes through `set(_:text:)`, where its range is checked,
        // so that the file, the environment and the flags take exactly the same values.
        for spec in Self.integerKeys {
            guard let v = json[spec.key] else { continue }
            guard let n = v.integerValue else { throw fail(spec.key, "expected integer, got \(v.kindName)") }
            do {
                try set(spec.key, text: String(n))
            } catch {
                throw fail(spec.key, error.reason)
            }
        }
        if let v = json["peer_listen"] {
            if case .null = v {
                peerListen = nil
            } else {
                guard let text = v.stringValue, let hp = HostPort(text) else { throw fail("peer_listen", "expected HOST:PORT or null") }
                peerListen = hp
            }
        }
        if let v = json["http_listen"] {
            if case .null = v {
                httpListen = nil
            } else {
                guard let text = v.stringValue else { throw fail("http_listen", "expected HOST:PORT, \"off\" or null") }
                do { try set("http_listen", text: text) } catch { throw fail("http_listen", error.reason) }
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
        if let v = json["peer_rates"] {
            guard let members = v.objectMembers else { throw fail("peer_rates", "expected an object of HOST:PORT → bytes a second") }
            peerRates = [:]
            for m in members {
                guard let hp = HostPort(m.key) else { throw fail("peer_rates.\(m.key)", "expected HOST:PORT as a key") }
                guard let n = m.value.integerValue, n >= 1, n <= 1 << 40 else {
                    throw fail("peer_rates.\(m.key)", "expected bytes a second, 1 … \(1 << 40)")
                }
                peerRates[hp.description] = Int(n)
            }
        }
        if let v = json["peer_compression"] {
            guard case .bool(let b) = v else { throw fail("peer_compression", "expected true or false, got \(v.kindName)") }
            peerCompression = b
        }
        try applySecurity(json: json, file: file)
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

/// Where the logs go.
public enum LogFormat: String, Sendable, CaseIterable {
    /// journald when stderr is the journal (or is discarded and journald listens), else logfmt.
    case auto
    /// Structured entries sent to journald (`sd_journal_sendv`), metadata as fields.
    case journald
    /// One `key=value` line per message on stderr.
    case logfmt
    /// One JSON object per line on stderr.
    case json
}

struct Errno: Error {
    var code: Int32
}

/// The whole file, or the errno that stopped reading it.
func readFile(_ path: String) -> Result<[UInt8], Errno> {
    guard let f = fopen(path, "rb") else { return .failure(Errno(code: errno)) }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    errno = 0
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n > 0 { out.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count { break }
    }
    return ferror(f) == 0 ? .success(out) : .failure(Errno(code: errno == 0 ? EIO : errno))
}

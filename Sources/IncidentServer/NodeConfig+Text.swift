import EventStore
import IncidentModel
import Wire

#if canImport(Glibc)
import Glibc
#endif

extension NodeConfig {
    /// Why a text value was refused (the caller names the place: file key, variable or flag).
    struct TextError: Error {
        var reason: String
    }

    /// Sets `key` from its text form, as environment variables and flags give it: lists are
    /// comma-separated (`peers`, `sectors`, `trust` as `NODE=KEY,…`), `peer_listen` and `http_listen` take `off`,
    /// integers are decimal. With `adding`, `trust` entries are added to the current ones
    /// instead of replacing them (`--trust`).
    mutating func set(_ key: String, text: String, adding: Bool = false) throws(TextError) {
        func list() -> [String] {
            text.split(separator: ",", omittingEmptySubsequences: true).map { $0.trimmingSpaces }
        }
        if let spec = Self.integerKeys.first(where: { $0.key == key }) {
            guard let n = Int64(text) else { throw TextError(reason: "expected an integer, got \(text)") }
            guard n >= spec.min else { throw TextError(reason: "must be at least \(spec.min)") }
            guard n <= spec.max else { throw TextError(reason: "must be at most \(spec.max)") }
            setInteger(key, n)
            return
        }
        switch key {
        case "node_id":
            guard NodeID.isValid(text) else { throw TextError(reason: "1-63 characters of a-z 0-9 _ -, starting with a letter or digit") }
            nodeID = text
        case "data_dir":
            guard !text.isEmpty else { throw TextError(reason: "expected a directory") }
            dataDir = text
        case "listen":
            guard let hp = HostPort(text) else { throw TextError(reason: "expected HOST:PORT, got \(text)") }
            listen = hp
        case "peer_listen": peerListen = try Self.addressOrOff(text)
        case "http_listen": httpListen = try Self.addressOrOff(text)
        case "fsync":
            guard let p = FsyncPolicy(rawValue: text) else { throw TextError(reason: "expected always or never") }
            fsync = p
        case "log_level":
            guard Self.logLevels.contains(text) else {
                throw TextError(reason: "expected one of \(Self.logLevels.joined(separator: ", "))")
            }
            logLevel = text
        case "log_format":
            guard let f = LogFormat(rawValue: text) else {
                throw TextError(reason: "expected one of \(LogFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            logFormat = f
        case "key_file":
            guard !text.isEmpty else { throw TextError(reason: "expected a file") }
            keyFile = text
        case "sectors":
            let items = list()
            guard !items.isEmpty else { throw TextError(reason: "expected a non-empty comma-separated list") }
            sectors = items
        case "peers":
            var out: [HostPort] = []
            for item in list() {
                guard let hp = HostPort(item) else { throw TextError(reason: "expected HOST:PORT, got \(item)") }
                out.append(hp)
            }
            peers = out
        case "trust":
            var out = adding ? trust : [:]
            for item in list() {
                guard let (node, key) = Self.parseTrust(item) else { throw TextError(reason: "expected NODE=BASE64KEY, got \(item)") }
                out[node] = key
            }
            trust = out
        default:
            try setSecurity(key, text: text)  // the security keys; unknown keys are refused there
        }
    }

    /// A listener's address, or nil for `off`.
    static func addressOrOff(_ text: String) throws(TextError) -> HostPort? {
        guard text != "off" else { return nil }
        guard let hp = HostPort(text) else { throw TextError(reason: "expected HOST:PORT or off, got \(text)") }
        return hp
    }

    /// Stores an integer key's value, already checked against its range (`integerKeys`).
    private mutating func setInteger(_ key: String, _ n: Int64) {
        let i = Int(n)
        switch key {
        case "disk_reserve_mb": diskReserveBytes = UInt64(n) << 20
        case "segment_mb": segmentBytes = UInt64(n) << 20
        case "max_line_bytes": maximumLineBytes = i
        case "max_events_per_append": maximumEventsPerAppend = i
        case "peer_max_bytes_per_second": peerMaximumBytesPerSecond = i == 0 ? nil : i
        case "max_connections": limits.maximumConnections = i
        case "max_connections_per_address": limits.maximumConnectionsPerAddress = i
        case "max_pending_output_bytes": limits.maximumPendingOutputBytes = i
        case "slow_consumer_timeout_ms": limits.slowConsumerTimeout = .milliseconds(i)
        case "requests_per_second": limits.requestsPerSecond = i
        case "request_burst": limits.requestBurst = i
        case "idle_timeout_ms": limits.idleTimeout = .milliseconds(i)
        case "handshake_timeout_ms": limits.handshakeTimeout = .milliseconds(i)
        default: preconditionFailure("integer key \(key) has no field")
        }
    }

    /// The environment variable of a key: `peer_listen` → `INCIDENTD_PEER_LISTEN`.
    public static func environmentName(_ key: String) -> String {
        ConfigLoader.environmentPrefix + key.uppercased()
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

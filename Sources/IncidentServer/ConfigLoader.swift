#if canImport(Glibc)
import Glibc
#endif

/// Builds the node's configuration from its three layers, later ones winning key by key:
///
/// 1. the config file (`--config`, else `INCIDENTD_CONFIG`, else none: built-in defaults);
/// 2. `INCIDENTD_*` environment variables, one per key (`INCIDENTD_PEERS=a:7401,b:7401`);
/// 3. the command-line flags (`ConfigLoader.Flag`).
///
/// The same loader runs again on SIGHUP, so a reload sees the file as edited and the flags and
/// environment the process started with.
public struct ConfigLoader: Sendable {
    public static let environmentPrefix = "INCIDENTD_"
    /// Variables with the prefix that are not config keys, and are not refused: the config file,
    /// the tests' binary path (`IncidentTestSupport`), and test-only hooks.
    static let otherVariables: Set<String> = ["INCIDENTD_CONFIG", "INCIDENTD_BIN"]
    static let testVariablePrefix = "INCIDENTD_TEST_"

    /// One flag given on the command line: its spelling (for errors), the key it sets, its text.
    public struct Flag: Sendable, Equatable {
        public var flag: String
        public var key: String
        public var text: String
        /// `--trust` adds to the trust entries instead of replacing them.
        public var adds: Bool

        public init(flag: String, key: String, text: String, adds: Bool = false) {
            self.flag = flag
            self.key = key
            self.text = text
            self.adds = adds
        }
    }

    public var file: String?
    public var environment: [String: String]
    public var flags: [Flag]

    /// - Parameters:
    ///   - file: `--config`; nil falls back on `INCIDENTD_CONFIG`.
    public init(file: String?, environment: [String: String], flags: [Flag]) {
        self.file = file ?? environment["INCIDENTD_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        self.environment = environment
        self.flags = flags
    }

    /// The configuration, or the first problem found, naming its file (or `environment`) and key.
    public func load() throws(NodeConfig.Failure) -> NodeConfig {
        var config = NodeConfig()
        var keyFileSource: (file: String, key: String)? = nil
        if let file {
            try config.apply(file: file)
            if config.keyFile != nil { keyFileSource = (file, "key_file") }
        }
        for name in environment.keys.sorted() where name.hasPrefix(Self.environmentPrefix) {
            guard !Self.otherVariables.contains(name), !name.hasPrefix(Self.testVariablePrefix) else { continue }
            let key = String(name.dropFirst(Self.environmentPrefix.count)).lowercased()
            guard NodeConfig.keys.contains(key) else {
                throw NodeConfig.Failure(
                    file: "environment", key: name,
                    reason: "unknown variable (known: \(NodeConfig.keys.map(NodeConfig.environmentName).joined(separator: ", ")), INCIDENTD_CONFIG)")
            }
            do {
                try config.set(key, text: environment[name]!)
            } catch {
                throw NodeConfig.Failure(file: "environment", key: name, reason: error.reason)
            }
            if key == "key_file" { keyFileSource = ("environment", name) }
        }
        for flag in flags {
            do {
                try config.set(flag.key, text: flag.text, adding: flag.adds)
            } catch {
                throw NodeConfig.Failure(file: "", key: flag.flag, reason: error.reason)
            }
            if flag.key == "key_file" { keyFileSource = ("", flag.flag) }
        }
        if let keyFile = config.keyFile, let source = keyFileSource, access(keyFile, R_OK) != 0 {
            throw NodeConfig.Failure(
                file: source.file, key: source.key, reason: "cannot read the key file \(keyFile): \(String(cString: strerror(errno)))")
        }
        try config.validateSecurity()
        return config
    }
}

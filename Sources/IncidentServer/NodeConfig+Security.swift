import IncidentModel
import Wire

/// The security keys: client tokens, anonymous access and TLS (the limits of the client API are
/// integer keys, parsed with the others by `NodeConfig.set(_:text:)`). Same rules as the other
/// keys: each has a JSON form for the file and a text form for `INCIDENTD_*` variables
/// (Config/README.md), and the text form is parsed in one place (`setSecurity`).
extension NodeConfig {
    static let securityKeys = [
        "tokens", "allow_anonymous_loopback", "tls_cert", "tls_key", "peer_tls_cert", "peer_tls_key", "peer_tls_ca",
        "max_connections", "max_connections_per_address", "max_pending_output_bytes", "slow_consumer_timeout_ms",
        "requests_per_second", "request_burst", "idle_timeout_ms", "handshake_timeout_ms",
    ]

    /// Reads the security keys of a config file's object over `self`.
    mutating func applySecurity(json: JSONValue, file: String) throws(Failure) {
        func fail(_ key: String, _ reason: String) -> Failure { Failure(file: file, key: key, reason: reason) }
        for key in ["tls_cert", "tls_key", "peer_tls_cert", "peer_tls_key", "peer_tls_ca"] {
            guard let v = json[key] else { continue }
            guard let s = v.stringValue else { throw fail(key, "expected string, got \(v.kindName)") }
            do { try setSecurity(key, text: s) } catch { throw fail(key, error.reason) }
        }
        if let v = json["allow_anonymous_loopback"] {
            if case .null = v {
                allowAnonymousLoopback = nil
            } else {
                guard let b = v.boolValue else { throw fail("allow_anonymous_loopback", "expected true, false or null, got \(v.kindName)") }
                allowAnonymousLoopback = b
            }
        }
        if let v = json["tokens"] {
            guard let members = v.objectMembers else {
                throw fail("tokens", "expected an object of name → {\"sha256\",\"role\",\"sectors\"}")
            }
            var out: [ClientToken] = []
            for m in members {
                let place = "tokens.\(m.key)"
                guard NodeID.isValid(m.key) else { throw fail(place, "a token name is 1-63 characters of a-z 0-9 _ -") }
                guard let fields = m.value.objectMembers else { throw fail(place, "expected an object {\"sha256\",\"role\",\"sectors\"}") }
                for f in fields where !["sha256", "role", "sectors"].contains(f.key) {
                    throw fail("\(place).\(f.key)", "unknown key (known: sha256, role, sectors)")
                }
                guard let digest = m.value["sha256"]?.stringValue, ClientToken.isDigest(digest) else {
                    throw fail("\(place).sha256", "expected 64 lower-case hex digits (incidentd --hash-token prints them)")
                }
                guard let roleName = m.value["role"]?.stringValue, let role = ClientRole(rawValue: roleName) else {
                    throw fail("\(place).role", "expected one of office, hq, reader")
                }
                var sectors: [String] = []
                if let s = m.value["sectors"] {
                    guard let a = s.arrayValue, a.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
                        throw fail("\(place).sectors", "expected an array of sector names")
                    }
                    sectors = a.compactMap(\.stringValue)
                }
                do {
                    out.append(try Self.token(name: m.key, digest: digest, role: role, sectors: sectors))
                } catch {
                    throw fail(place, error.reason)
                }
            }
            tokens = out
        }
    }

    static func token(name: String, digest: String, role: ClientRole, sectors: [String]) throws(TextError) -> ClientToken {
        switch role {
        case .office where sectors.isEmpty:
            throw TextError(reason: "an office token needs its sectors")
        case .hq, .reader:
            guard sectors.isEmpty else { throw TextError(reason: "only an office token has sectors (\(role.rawValue) reads or writes all)") }
        default: break
        }
        return ClientToken(name: name, sha256: digest, role: role, sectors: sectors)
    }

    /// Sets a security key from its text form (`INCIDENTD_*`). `tokens` is
    /// `NAME=ROLE:SHA256[:SECTOR+SECTOR],…`; `allow_anonymous_loopback` is `true` or `false`.
    mutating func setSecurity(_ key: String, text: String) throws(TextError) {
        func path() throws(TextError) -> String {
            guard !text.isEmpty else { throw TextError(reason: "expected a file") }
            return text
        }
        switch key {
        case "tls_cert": tlsCert = try path()
        case "tls_key": tlsKey = try path()
        case "peer_tls_cert": peerTLSCert = try path()
        case "peer_tls_key": peerTLSKey = try path()
        case "peer_tls_ca": peerTLSCA = try path()
        case "allow_anonymous_loopback":
            switch text {
            case "true": allowAnonymousLoopback = true
            case "false": allowAnonymousLoopback = false
            default: throw TextError(reason: "expected true or false, got \(text)")
            }
        case "tokens":
            var out: [ClientToken] = []
            for item in text.split(separator: ",", omittingEmptySubsequences: true).map({ $0.trimmingSpaces }) {
                guard let eq = item.firstIndex(of: "=") else { throw TextError(reason: "expected NAME=ROLE:SHA256[:SECTOR+SECTOR], got \(item)") }
                let name = String(item[..<eq])
                let parts = item[item.index(after: eq)...].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
                guard NodeID.isValid(name), parts.count == 2 || parts.count == 3, let role = ClientRole(rawValue: parts[0]),
                    ClientToken.isDigest(parts[1])
                else { throw TextError(reason: "expected NAME=ROLE:SHA256[:SECTOR+SECTOR], got \(item)") }
                let sectors = parts.count == 3 ? parts[2].split(separator: "+").map(String.init) : []
                out.append(try Self.token(name: name, digest: parts[1], role: role, sectors: sectors))
            }
            tokens = out
        default:
            throw TextError(reason: "unknown key")
        }
    }

    /// Whether anonymous clients get `hq`: `allow_anonymous_loopback`, by default exactly when the
    /// client listener is on loopback.
    public var anonymousAllowed: Bool { allowAnonymousLoopback ?? listen.isLoopback }

    /// Checks across keys, once every layer is applied: a client listener off loopback requires
    /// tokens; TLS files come in sets; an office's sectors exist. Each failure names its key.
    func validateSecurity() throws(Failure) {
        func fail(_ key: String, _ reason: String) -> Failure { Failure(file: "", key: key, reason: reason) }
        if !listen.isLoopback {
            if allowAnonymousLoopback == true {
                throw fail(
                    "allow_anonymous_loopback",
                    "the client listener \(listen) is not on loopback; anonymous clients are allowed on loopback only")
            }
            if tokens.isEmpty {
                throw fail("tokens", "the client listener \(listen) is not on loopback, so clients need tokens; configure tokens (docs/SECURITY.md)")
            }
        } else if let http = httpListen, !http.isLoopback, tokens.isEmpty {
            throw fail("tokens", "the HTTP listener \(http) is not on loopback, so clients need tokens; configure tokens (docs/SECURITY.md)")
        } else if allowAnonymousLoopback == false && tokens.isEmpty {
            throw fail("tokens", "allow_anonymous_loopback is false and no tokens are configured: no client could connect")
        }
        // Two tokens with one digest are one secret under two names and roles: which one a client
        // gets would depend on the order of the list.
        var named: [String: String] = [:]
        for t in tokens {
            if let first = named[t.sha256] {
                throw fail("tokens", "tokens \(first) and \(t.name) have the same sha256; give each token a secret of its own")
            }
            named[t.sha256] = t.name
        }
        for t in tokens {
            for s in t.sectors where !sectors.contains(s) {
                throw fail("tokens.\(t.name).sectors", "unknown sector \(s) (known: \(sectors.joined(separator: ", ")))")
            }
        }
        if (tlsCert == nil) != (tlsKey == nil) {
            throw fail(tlsCert == nil ? "tls_cert" : "tls_key", "tls_cert and tls_key go together")
        }
        let peer = [("peer_tls_cert", peerTLSCert), ("peer_tls_key", peerTLSKey), ("peer_tls_ca", peerTLSCA)]
        if peer.contains(where: { $0.1 != nil }), let missing = peer.first(where: { $0.1 == nil }) {
            throw fail(missing.0, "peer_tls_cert, peer_tls_key and peer_tls_ca go together (mutual TLS)")
        }
        if limits.requestsPerSecond > 0 && limits.requestBurst < 1 {
            throw fail("request_burst", "must be at least 1")
        }
        try TLSSetup.check(self)
    }
}

extension Reloader {
    /// The security keys whose values differ (for the reload's "restart needed" list).
    static func changedSecurityKeys(_ a: NodeConfig, _ b: NodeConfig) -> [String] {
        var out: [String] = []
        if a.tokens != b.tokens { out.append("tokens") }
        if a.allowAnonymousLoopback != b.allowAnonymousLoopback { out.append("allow_anonymous_loopback") }
        if a.tlsCert != b.tlsCert { out.append("tls_cert") }
        if a.tlsKey != b.tlsKey { out.append("tls_key") }
        if a.peerTLSCert != b.peerTLSCert { out.append("peer_tls_cert") }
        if a.peerTLSKey != b.peerTLSKey { out.append("peer_tls_key") }
        if a.peerTLSCA != b.peerTLSCA { out.append("peer_tls_ca") }
        let x = a.limits
        let y = b.limits
        if x.maximumConnections != y.maximumConnections { out.append("max_connections") }
        if x.maximumConnectionsPerAddress != y.maximumConnectionsPerAddress { out.append("max_connections_per_address") }
        if x.maximumPendingOutputBytes != y.maximumPendingOutputBytes { out.append("max_pending_output_bytes") }
        if x.slowConsumerTimeout != y.slowConsumerTimeout { out.append("slow_consumer_timeout_ms") }
        if x.requestsPerSecond != y.requestsPerSecond { out.append("requests_per_second") }
        if x.requestBurst != y.requestBurst { out.append("request_burst") }
        if x.idleTimeout != y.idleTimeout { out.append("idle_timeout_ms") }
        if x.handshakeTimeout != y.handshakeTimeout { out.append("handshake_timeout_ms") }
        return out
    }
}

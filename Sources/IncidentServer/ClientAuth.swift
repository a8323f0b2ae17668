import Crypto
import Synchronization
import Wire

/// What a client token allows (docs/SECURITY.md).
public enum ClientRole: String, Sendable, CaseIterable {
    /// Appends events whose sector is in the token's list; reads everything (intelligence is shared
    /// across sectors).
    case office
    /// Appends (and ingests bundles) and reads everything.
    case hq
    /// Reads only.
    case reader
}

/// One client token of the config: stored as the SHA-256 of the token (hex), never the token.
public struct ClientToken: Sendable, Equatable {
    /// Names the token in logs and in the `auth` answer (who appended, who was refused).
    public var name: String
    /// Lower-case hex SHA-256 of the token's UTF-8 bytes (`incidentd --hash-token`).
    public var sha256: String
    public var role: ClientRole
    /// For `office`: the sectors it may append to (non-empty). Empty for the other roles.
    public var sectors: [String]

    public init(name: String, sha256: String, role: ClientRole, sectors: [String] = []) {
        self.name = name
        self.sha256 = sha256
        self.role = role
        self.sectors = sectors
    }

    /// The hex digest a token is stored as.
    public static func digest(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { byte in
            let hex = Array("0123456789abcdef".utf8)
            return String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0x0f)]], as: UTF8.self)
        }.joined()
    }

    static func isDigest(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// Who is on the other end of a connection, once known.
struct ClientPrincipal: Sendable, Equatable {
    var name: String
    var role: ClientRole
    var sectors: Set<String>

    static let anonymous = ClientPrincipal(name: "anonymous", role: .hq, sectors: [])

    /// Why the role does not allow `request`, or nil when it does. Every request that is not an
    /// `append` or an `ingest` reads, and every role may read; so an operation added later is a
    /// read unless it is listed here.
    func refusal(for request: ClientRequest) -> WireError? {
        switch request {
        case .append(let events):
            switch role {
            case .hq: return nil
            case .reader: return WireError(.forbidden, "token \(name) (reader) may not append")
            case .office:
                for (i, e) in events.enumerated() where !sectors.contains(e.sector) {
                    let place = events.count == 1 ? "sector" : "events[\(i)].sector"
                    return WireError(
                        .forbidden,
                        "\(place): token \(name) (office) may append only to \(sectors.sorted().joined(separator: ", ")), not \(e.sector)")
                }
                return nil
            }
        case .ingest:
            return role == .hq ? nil : WireError(.forbidden, "token \(name) (\(role.rawValue)) may not ingest; only hq tokens may")
        default:
            return nil
        }
    }
}

/// A connection's authentication: who it is, and under which policy generation that was decided
/// (a reload can revoke a token; the next request then finds out).
struct ClientAuthState: Sendable {
    var principal: ClientPrincipal?
    /// The digest of the token the connection authenticated with; nil for anonymous.
    var digest: String?
    var generation = -1
    /// A request was answered to an authenticated connection (ends the handshake timeout).
    var authenticated: Bool { principal != nil }

    /// The role check of a parsed request; a connection that is not authenticated may do nothing.
    func refusal(for request: ClientRequest) -> WireError? {
        guard let principal else { return WireError(.unauthorized, "authenticate first: {\"op\":\"auth\",\"token\":…}") }
        return principal.refusal(for: request)
    }
}

/// The live authentication policy: the tokens by digest and whether anonymous clients get `hq`.
/// Replaced on SIGHUP (`Reloader`); connections re-check their token on their next request.
final class ClientAuthority: Sendable {
    struct Policy {
        var tokens: [String: ClientToken]
        /// Anonymous clients on the client listener.
        var anonymous: Bool
        /// `allow_anonymous_loopback` as configured (nil: on loopback listeners), for the HTTP
        /// listener, which has its own address.
        var allowAnonymous: Bool?
        var generation: Int
    }

    let policy: Mutex<Policy>
    /// Whether the client listener is on loopback: anonymous clients are never allowed otherwise.
    let listenerIsLoopback: Bool

    init(tokens: [ClientToken], anonymous: Bool, listenerIsLoopback: Bool, allowAnonymous: Bool? = nil) {
        policy = Mutex(
            Policy(tokens: Self.byDigest(tokens), anonymous: anonymous && listenerIsLoopback, allowAnonymous: allowAnonymous, generation: 0))
        self.listenerIsLoopback = listenerIsLoopback
    }

    static func byDigest(_ tokens: [ClientToken]) -> [String: ClientToken] {
        Dictionary(tokens.map { ($0.sha256, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// Replaces the policy (SIGHUP). `allowAnonymous` nil: anonymous exactly on loopback.
    func set(tokens: [ClientToken], allowAnonymous: Bool?) {
        policy.withLock { p in
            p.tokens = Self.byDigest(tokens)
            p.anonymous = (allowAnonymous ?? listenerIsLoopback) && listenerIsLoopback
            p.allowAnonymous = allowAnonymous
            p.generation += 1
        }
    }

    var anonymousAllowed: Bool { policy.withLock { $0.anonymous } }

    static func principal(_ token: ClientToken) -> ClientPrincipal {
        ClientPrincipal(name: token.name, role: token.role, sectors: Set(token.sectors))
    }

    /// Who sends an HTTP request (docs/HTTP.md), from its bearer token: the same tokens and roles
    /// as `auth`. Without a token the client is anonymous (`hq`) only when the HTTP listener is
    /// on loopback and `allow_anonymous_loopback` is not false; else `unauthorized`, as for a
    /// token the node does not hold. Each request is judged under the policy in force, so a
    /// reload that removes a token takes effect from the next request.
    func principal(bearer token: String?, listenerIsLoopback: Bool) -> Result<ClientPrincipal, WireError> {
        let (tokens, allow) = policy.withLock { ($0.tokens, $0.allowAnonymous) }
        guard let token else {
            guard (allow ?? true) && listenerIsLoopback else {
                return .failure(WireError(.unauthorized, "this node requires a token: send Authorization: Bearer <token>"))
            }
            return .success(.anonymous)
        }
        guard let entry = tokens[ClientToken.digest(token)] else { return .failure(WireError(.unauthorized, "unknown token")) }
        return .success(Self.principal(entry))
    }

    /// The longest line a connection that is not authenticated may send. An `auth` line is a few
    /// hundred bytes (a token is at most `AuthRequest.maximumTokenLength`); anything longer
    /// before authentication is refused unparsed (`line_too_long`, closed), so that whoever can
    /// reach the port cannot make the node parse a `max_line_bytes` line on its event loop.
    /// Once authenticated, a line this long is never taken for an `auth`.
    static let unauthenticatedLineLimit = 4 * 1024

    /// What the connection's next line gets before the request handler sees it.
    enum Gate: Equatable {
        /// Hand the line to the request handler.
        case pass
        /// Answer with this line; close the connection afterwards when `close`.
        case answer([UInt8], close: Bool)
    }

    /// Authentication of one line: `auth` requests are answered here; any other request of a
    /// connection that is not authenticated is `unauthorized`; a connection whose token was
    /// revoked by a reload loses its principal. Refusals are counted in `errors`.
    func gate(_ line: [UInt8], state: inout ClientAuthState, errors: ClientErrors) -> Gate {
        let (tokens, anonymous, generation) = policy.withLock { ($0.tokens, $0.anonymous, $0.generation) }
        if state.generation != generation {
            state.generation = generation
            if let digest = state.digest {
                state.principal = tokens[digest].map(Self.principal)
            } else {
                state.principal = anonymous ? .anonymous : nil
            }
        }
        if line.count > Self.unauthenticatedLineLimit {
            // An authenticated connection's long line is a request for the handler (which parses
            // lines this long off the event loop), never an `auth`.
            guard state.principal == nil else { return .pass }
            let error = WireError(
                .lineTooLong,
                "before authentication a line is at most \(Self.unauthenticatedLineLimit) bytes; closing the connection")
            return .answer(errors.refusal(error), close: true)
        }
        let parsed: AuthRequest.Parsed
        do {
            parsed = try line.withUnsafeBufferPointer { buffer throws(WireError) -> AuthRequest.Parsed in
                // An authenticated connection's requests go to the handler unparsed unless they
                // may be an `auth`; one that is not authenticated may send nothing else.
                guard state.principal == nil || AuthRequest.mayBeAuth(buffer) else { return .other }
                return try AuthRequest.parse(buffer)
            }
        } catch {
            return state.principal == nil ? .answer(errors.refusal(error), close: false) : .pass
        }
        switch parsed {
        case .other:
            guard state.principal == nil else { return .pass }
            let message = state.digest == nil ? "this node requires a token: send {\"op\":\"auth\",\"token\":…} first" : "the token was revoked"
            return .answer(errors.refusal(WireError(.unauthorized, message)), close: false)
        case .auth(let token):
            let digest = ClientToken.digest(token)
            guard let entry = tokens[digest] else {
                state.principal = nil
                state.digest = nil
                // A wrong token costs the guesser its connection.
                return .answer(errors.refusal(WireError(.unauthorized, "unknown token")), close: true)
            }
            state.digest = digest
            state.principal = Self.principal(entry)
            return .answer(
                ClientResponse.authenticated(
                    name: entry.name, role: entry.role.rawValue, sectors: entry.role == .office ? entry.sectors : nil),
                close: false)
        }
    }
}

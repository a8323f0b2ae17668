@preconcurrency public import Crypto
import IncidentModel

/// Node id → Ed25519 public key: whose events this node accepts and which peers it talks to.
/// The node's own key is always in it.
public struct TrustList: Sendable {
    public private(set) var keys: [String: Curve25519.Signing.PublicKey]

    public init(keys: [String: Curve25519.Signing.PublicKey] = [:]) {
        self.keys = keys
    }

    /// Builds the list from `node → base64 key` entries; nil names the first bad entry.
    public static func parse(_ entries: [String: String]) -> Result<TrustList, TrustListError> {
        var keys: [String: Curve25519.Signing.PublicKey] = [:]
        for (node, text) in entries.sorted(by: { $0.key < $1.key }) {
            guard NodeID.isValid(node) else { return .failure(TrustListError(node: node, reason: "invalid node id")) }
            guard let key = NodeIdentity.publicKey(base64: text) else {
                return .failure(TrustListError(node: node, reason: "not a base64 Ed25519 public key"))
            }
            keys[node] = key
        }
        return .success(TrustList(keys: keys))
    }

    public subscript(node: String) -> Curve25519.Signing.PublicKey? { keys[node] }

    public mutating func insert(node: String, key: Curve25519.Signing.PublicKey) { keys[node] = key }

    public var nodes: [String] { keys.keys.sorted() }

    /// Each node's key as base64 of its 32 bytes (as `trust` in the config and in `status`).
    public var base64Keys: [String: String] { keys.mapValues { Base64.encode(Array($0.rawRepresentation)) } }
}

public struct TrustListError: Error, CustomStringConvertible, Sendable {
    public var node: String
    public var reason: String
    public var description: String { "trust \(node): \(reason)" }
}

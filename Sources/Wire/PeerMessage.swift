public import IncidentModel

// Peer protocol messages (docs/PROTOCOL.md, "Peer protocol", is the normative spec):
//
//   {"type":"hello","version":1,"node":"gao","public_key":"<b64>","nonce":"<b64 32 bytes>","vector":{…},
//    "max_version":2,"compress":["deflate"]}        the last two: version 2; absent in version 1
//   {"type":"proof","sig":"<b64 Ed25519>"}
//   {"type":"compress","algorithm":"deflate"}       version 2: then a raw-deflate stream (PeerCompression.swift)
//   {"type":"events","events":[<event line>,…]}      members in exactly this order, no whitespace
//   {"type":"fresh","events":[<event line>,…]}       version 2: events ahead of the backlog (same form)
//   {"type":"ack","vector":{…}}
//   {"type":"refused","id":"gao:12","code":"fork","message":"…"}
//   {"type":"ping"}   {"type":"pong"}
//   {"type":"error","code":"untrusted_peer","message":"…"}
//
// `events` carries event lines exactly as stored (they are cut out of the message by their
// byte ranges, never re-encoded), so the receiver hashes the bytes the origin wrote.

/// One message of the peer protocol.
public enum PeerMessage: Sendable, Equatable {
    case hello(Hello)
    case proof(signature: [UInt8])
    case events([[UInt8]])
    /// Version 2: events sent ahead of the backlog, which the receiver may hold out of order.
    case fresh([[UInt8]])
    case ack(VersionVector)
    case refused(id: String, code: String, message: String)
    case ping
    case pong
    case error(code: String, message: String)
    /// Version 2: everything the sender writes after this line is one compressed stream.
    case compress(algorithm: String)

    public struct Hello: Sendable, Equatable {
        /// The lowest protocol version the sender speaks (1 for every node so far: a version-1
        /// node refuses any other value, so version 2 is offered through `maxVersion`).
        public var version: Int
        public var node: String
        public var publicKey: String
        public var nonce: [UInt8]
        public var vector: VersionVector
        /// The highest version the sender speaks; `version` when the hello has no `max_version`.
        public var maxVersion: Int
        /// Link compressions the sender accepts, in its order of preference (version 2).
        public var compression: [String]

        public init(
            version: Int, node: String, publicKey: String, nonce: [UInt8], vector: VersionVector, maxVersion: Int? = nil,
            compression: [String] = []
        ) {
            self.version = version
            self.node = node
            self.publicKey = publicKey
            self.nonce = nonce
            self.vector = vector
            self.maxVersion = maxVersion ?? version
            self.compression = compression
        }
    }

    /// The lowest protocol version this node speaks, sent as the hello's `version`.
    public static let minimumVersion = 1
    /// The highest protocol version this node speaks, sent as the hello's `max_version`.
    public static let protocolVersion = 2

    /// The one link compression this node speaks: raw deflate (zlib), flushed per message.
    public static let deflate = "deflate"
    /// The `compress` line (newline included) after which a side's bytes are a deflate stream
    /// (PeerCompression.swift): `PeerDeflateEncoder` and `PeerLineDecoder` switch on exactly it.
    public static let compressMarker = PeerMessage.compress(algorithm: deflate).encoded

    static let eventsPrefix = Array("{\"type\":\"events\",\"events\":[".utf8)
    static let freshPrefix = Array("{\"type\":\"fresh\",\"events\":[".utf8)

    /// The message as one line, newline included.
    public var encoded: [UInt8] {
        var w = JSONWriter()
        switch self {
        case .hello(let h):
            w.raw("{\"type\":\"hello\",\"version\":")
            w.integer(h.version)
            w.raw(",\"node\":")
            w.string(h.node)
            w.raw(",\"public_key\":")
            w.string(h.publicKey)
            w.raw(",\"nonce\":")
            w.string(Base64.encode(h.nonce))
            w.raw(",\"vector\":")
            h.vector.write(to: &w)
            if h.maxVersion != h.version {
                w.raw(",\"max_version\":")
                w.integer(h.maxVersion)
            }
            if !h.compression.isEmpty {
                w.raw(",\"compress\":[")
                for (i, c) in h.compression.enumerated() {
                    if i > 0 { w.raw(UInt8(ascii: ",")) }
                    w.string(c)
                }
                w.raw("]")
            }
            w.raw("}")
        case .proof(let signature):
            w.raw("{\"type\":\"proof\",\"sig\":")
            w.string(Base64.encode(signature))
            w.raw("}")
        case .events(let lines), .fresh(let lines):
            w.bytes.reserveCapacity(lines.reduce(32) { $0 + $1.count + 1 })
            if case .fresh = self { w.raw(Self.freshPrefix) } else { w.raw(Self.eventsPrefix) }
            for (i, line) in lines.enumerated() {
                if i > 0 { w.raw(UInt8(ascii: ",")) }
                w.raw(line)
            }
            w.raw("]}")
        case .ack(let vector):
            w.raw("{\"type\":\"ack\",\"vector\":")
            vector.write(to: &w)
            w.raw("}")
        case .refused(let id, let code, let message):
            w.raw("{\"type\":\"refused\",\"id\":")
            w.string(id)
            w.raw(",\"code\":")
            w.string(code)
            w.raw(",\"message\":")
            w.string(message)
            w.raw("}")
        case .compress(let algorithm):
            w.raw("{\"type\":\"compress\",\"algorithm\":")
            w.string(algorithm)
            w.raw("}")
        case .ping: w.raw("{\"type\":\"ping\"}")
        case .pong: w.raw("{\"type\":\"pong\"}")
        case .error(let code, let message):
            w.raw("{\"type\":\"error\",\"code\":")
            w.string(code)
            w.raw(",\"message\":")
            w.string(message)
            w.raw("}")
        }
        w.raw(UInt8(ascii: "\n"))
        return w.bytes
    }

    /// Why a line is not a valid peer message.
    public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { reason }
    }

    /// Parses one line (without its newline).
    public static func parse(_ line: [UInt8]) throws(ParseError) -> PeerMessage {
        if line.starts(with: eventsPrefix) { return try parseEvents(line) }
        if line.starts(with: freshPrefix) { return .fresh(try EventArray.split(line, prefixLength: freshPrefix.count)) }
        let json: JSONValue
        do throws(JSONParser.Error) {
            json = try JSONParser.parse(line)
        } catch {
            // The parser's limits are named as the client protocol names them, so that a peer's
            // log tells them from a syntax error.
            switch error.kind {
            case .syntax: throw ParseError("invalid JSON: \(error)")
            case .tooDeep: throw ParseError("too_deep: \(error)")
            case .tooManyMembers: throw ParseError("too_many_members: \(error)")
            }
        }
        guard let type = json["type"]?.stringValue else { throw ParseError("type: required string") }
        func string(_ key: String) throws(ParseError) -> String {
            guard let s = json[key]?.stringValue else { throw ParseError("\(type).\(key): required string") }
            return s
        }
        switch type {
        case "hello":
            guard let version = json["version"]?.integerValue else { throw ParseError("hello.version: required integer") }
            let node = try string("node")
            guard NodeID.isValid(node) else { throw ParseError("hello.node: invalid node id") }
            guard let nonce = Base64.decode(try string("nonce")), nonce.count >= 16 else {
                throw ParseError("hello.nonce: base64 of at least 16 bytes")
            }
            guard let vectorJSON = json["vector"], let vector = VersionVector(json: vectorJSON) else {
                throw ParseError("hello.vector: required object of node → seq")
            }
            var maxVersion = Int(version)
            if let m = json["max_version"] {
                guard let m = m.integerValue, m >= version, m <= Int64(Int32.max) else {
                    throw ParseError("hello.max_version: an integer not below version")
                }
                maxVersion = Int(m)
            }
            var compression: [String] = []
            if let c = json["compress"] {
                guard let list = c.arrayValue, list.count <= 16 else { throw ParseError("hello.compress: an array of at most 16 names") }
                for name in list {
                    guard let n = name.stringValue else { throw ParseError("hello.compress: an array of strings") }
                    compression.append(n)
                }
            }
            return .hello(
                Hello(
                    version: Int(version), node: node, publicKey: try string("public_key"), nonce: nonce, vector: vector,
                    maxVersion: maxVersion, compression: compression))
        case "proof":
            guard let sig = Base64.decode(try string("sig")), sig.count == 64 else { throw ParseError("proof.sig: base64 of 64 bytes") }
            return .proof(signature: sig)
        case "events", "fresh":
            throw ParseError("\(type): members must be exactly {\"type\":\"\(type)\",\"events\":[…]}")
        case "ack":
            guard let v = json["vector"], let vector = VersionVector(json: v) else { throw ParseError("ack.vector: required") }
            return .ack(vector)
        case "refused":
            return .refused(id: try string("id"), code: try string("code"), message: json["message"]?.stringValue ?? "")
        case "compress": return .compress(algorithm: try string("algorithm"))
        case "ping": return .ping
        case "pong": return .pong
        case "error":
            return .error(code: try string("code"), message: json["message"]?.stringValue ?? "")
        default:
            throw ParseError("unknown message type \"\(type)\"")
        }
    }

    static func parseEvents(_ line: [UInt8]) throws(ParseError) -> PeerMessage {
        .events(try EventArray.split(line, prefixLength: eventsPrefix.count))
    }
}

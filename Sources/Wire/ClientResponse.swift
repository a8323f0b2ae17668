public import IncidentModel

/// Writers of the client protocol's responses, one line each, newline included.
/// Success carries `"ok":true`; stored events are embedded as their exact stored bytes.
public enum ClientResponse {
    public static func appended(ids: [String], firstOffset: UInt64) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 32 + ids.count * 16)
        w.raw("{\"ok\":true,\"ids\":[")
        for (i, id) in ids.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.string(id)
        }
        w.raw("],\"first_offset\":")
        w.integer(firstOffset)
        w.raw("}\n")
        return w.bytes
    }

    public static func event(line: [UInt8]) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: line.count + 24)
        w.raw("{\"ok\":true,\"event\":")
        w.raw(line)
        w.raw("}\n")
        return w.bytes
    }

    public static func events(lines: [[UInt8]], next: UInt64) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: lines.reduce(48) { $0 + $1.count + 1 })
        w.raw("{\"ok\":true,\"events\":[")
        for (i, line) in lines.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.raw(line)
        }
        w.raw("],\"next\":")
        w.integer(next)
        w.raw("}\n")
        return w.bytes
    }

    public struct Status: Sendable {
        public var node: String
        public var publicKey: String
        public var events: UInt64
        public var vector: VersionVector
        public var dataBytes: UInt64
        public var segments: Int
        public var storeFailed: String?

        public init(node: String, publicKey: String, events: UInt64, vector: VersionVector, dataBytes: UInt64, segments: Int, storeFailed: String?) {
            self.node = node
            self.publicKey = publicKey
            self.events = events
            self.vector = vector
            self.dataBytes = dataBytes
            self.segments = segments
            self.storeFailed = storeFailed
        }
    }

    public static func status(_ s: Status) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"ok\":true,\"node\":")
        w.string(s.node)
        w.raw(",\"public_key\":")
        w.string(s.publicKey)
        w.raw(",\"events\":")
        w.integer(s.events)
        w.raw(",\"vector\":")
        s.vector.write(to: &w)
        w.raw(",\"data_bytes\":")
        w.integer(s.dataBytes)
        w.raw(",\"segments\":")
        w.integer(s.segments)
        if let failed = s.storeFailed {
            w.raw(",\"store_failed\":")
            w.string(failed)
        }
        w.raw("}\n")
        return w.bytes
    }

    public static func error(_ e: WireError) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"ok\":false,\"error\":{\"code\":")
        w.string(e.code.rawValue)
        w.raw(",\"message\":")
        w.string(e.message)
        if let field = e.field {
            w.raw(",\"field\":")
            w.string(field)
        }
        w.raw("}}\n")
        return w.bytes
    }
}

/// For each origin, the highest seq held with every lower seq held too.
///
/// Encoded as a JSON object `{"gao":12,"bamako-hq":40}` with keys sorted.
public struct VersionVector: Sendable, Equatable, Hashable, CustomStringConvertible {
    public private(set) var entries: [String: UInt64]

    public init(_ entries: [String: UInt64] = [:]) {
        self.entries = entries.filter { $0.value > 0 }
    }

    public subscript(origin: String) -> UInt64 {
        get { entries[origin] ?? 0 }
        set { entries[origin] = newValue > 0 ? newValue : nil }
    }

    public var origins: [String] { entries.keys.sorted() }

    /// Total events covered.
    public var total: UInt64 { entries.values.reduce(0, +) }

    /// True when this vector holds at least everything `other` holds.
    public func dominates(_ other: VersionVector) -> Bool {
        other.entries.allSatisfy { self[$0.key] >= $0.value }
    }

    public func write(to w: inout JSONWriter) {
        w.raw(UInt8(ascii: "{"))
        for (i, origin) in origins.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.string(origin)
            w.raw(UInt8(ascii: ":"))
            w.integer(entries[origin]!)
        }
        w.raw(UInt8(ascii: "}"))
    }

    public var description: String {
        var w = JSONWriter()
        write(to: &w)
        return String(decoding: w.bytes, as: UTF8.self)
    }

    /// Reads `{"origin": seq, …}`; nil when the shape is wrong.
    public init?(json: JSONValue) {
        guard let members = json.objectMembers else { return nil }
        var entries: [String: UInt64] = [:]
        for m in members {
            guard let v = m.value.integerValue, v >= 0, NodeID.isValid(m.key) else { return nil }
            entries[m.key] = UInt64(v)
        }
        self.init(entries)
    }
}

/// Node ids: 1–63 characters of `a-z 0-9 _ -`, starting with a letter or digit. No `:` so that
/// an event id `origin:seq` splits unambiguously.
public enum NodeID {
    public static func isValid(_ id: String) -> Bool {
        let u = Array(id.utf8)
        guard (1...63).contains(u.count) else { return false }
        for (i, c) in u.enumerated() {
            let ok = (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || (i > 0 && (c == 0x2D || c == 0x5F))
            if !ok { return false }
        }
        return true
    }
}

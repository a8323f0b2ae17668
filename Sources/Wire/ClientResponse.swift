public import IncidentModel
public import NIOCore

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

    /// The answer to an append whose events are `origin`'s `seqs`, in order: the bytes of
    /// `appended(ids:firstOffset:)` with the ids "origin:seq", written without a string for each
    /// (an import's answer names some 3,000). An array, not any collection: a generic version
    /// called across modules is not specialized and looks up type metadata for every seq.
    public static func appended(origin: String, seqs: [UInt64], firstOffset: UInt64) -> [UInt8] {
        var quoted = JSONWriter()
        quoted.string(origin)
        let opening = quoted.bytes.dropLast()  // `"origin`, escaped as in the id
        var w = JSONWriter(reservingCapacity: 48 + seqs.count * (opening.count + 10))
        w.raw("{\"ok\":true,\"ids\":[")
        for (i, seq) in seqs.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.raw(opening)
            w.raw(UInt8(ascii: ":"))
            w.integer(seq)
            w.raw(UInt8(ascii: "\""))
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
        public var forks: Int = 0
        public var peers: [Peer] = []
        /// Events held ahead of their origin's chain (sync's fresh lane), by id.
        public var held: [String] = []
        /// The trust list in force, this node's own key included: node id → base64 public key.
        public var trust: [String: String] = [:]
        /// Events folded into the views, those folded since the node started (a start from a
        /// snapshot folds only the newer ones), and whether a snapshot was loaded.
        public var projections: (folded: UInt64, sinceStart: UInt64, fromSnapshot: Bool)? = nil
        /// Damaged sealed segments and their repair; nil when the node found none.
        public var damage: DamageReport? = nil
        /// Stored events kept out of the views for failing validation: how many, and the first
        /// few (id, reason). Reported inside `projections`.
        public var quarantined: UInt64 = 0
        public var quarantinedFirst: [(id: String, reason: String)] = []

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

    /// One peer in `status`.
    public struct Peer: Sendable {
        public var key: String
        public var node: String?
        public var address: String?
        public var direction: String
        public var connected: Bool
        public var sinceMillis: Int64?
        public var lastContactMillis: Int64?
        public var eventsSent: UInt64
        public var eventsReceived: UInt64
        /// Events this node holds that the peer lacks, and the other way round, as far as known.
        public var peerLacks: UInt64
        public var weLack: UInt64
        public var lastError: String?
        /// The link (docs/OPERATIONS.md, "Peer links").
        public var link = Link()

        public struct Link: Sendable {
            public var rawBytesSent: UInt64 = 0
            public var wireBytesSent: UInt64 = 0
            public var rawBytesReceived: UInt64 = 0
            public var wireBytesReceived: UInt64 = 0
            public var messageBytes = 0
            public var bytesPerSecond = 0.0
            public var cutsMidMessage: UInt64 = 0
            public var bytesLostToCuts: UInt64 = 0
            public var version = 1
            public var compression: String? = nil
            /// Seconds since the oldest event the peer lacks was recorded (nil: it lacks none).
            public var oldestLackedAgeSeconds: Int64? = nil
            public init() {}
        }

        public init(
            key: String, node: String?, address: String?, direction: String, connected: Bool, sinceMillis: Int64?,
            lastContactMillis: Int64?, eventsSent: UInt64, eventsReceived: UInt64, peerLacks: UInt64, weLack: UInt64,
            lastError: String?
        ) {
            self.key = key
            self.node = node
            self.address = address
            self.direction = direction
            self.connected = connected
            self.sinceMillis = sinceMillis
            self.lastContactMillis = lastContactMillis
            self.eventsSent = eventsSent
            self.eventsReceived = eventsReceived
            self.peerLacks = peerLacks
            self.weLack = weLack
            self.lastError = lastError
        }
    }

    /// The result of an `ingest`. `skipped`: events not applied because an earlier event of
    /// their origin (`waits_on`) was refused.
    public static func ingested(
        new: Int, duplicate: Int, refused: [(id: String, code: String, message: String)], skipped: [(id: String, waitsOn: String)] = [],
        pending: Int
    ) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"ok\":true,\"new\":")
        w.integer(new)
        w.raw(",\"duplicate\":")
        w.integer(duplicate)
        w.raw(",\"pending\":")
        w.integer(pending)
        w.raw(",\"refused\":[")
        for (i, r) in refused.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.raw("{\"id\":")
            w.string(r.id)
            w.raw(",\"code\":")
            w.string(r.code)
            w.raw(",\"message\":")
            w.string(r.message)
            w.raw("}")
        }
        w.raw("],\"skipped\":[")
        for (i, r) in skipped.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.raw("{\"id\":")
            w.string(r.id)
            w.raw(",\"waits_on\":")
            w.string(r.waitsOn)
            w.raw("}")
        }
        w.raw("]}\n")
        return w.bytes
    }

    /// `status.damage` (docs/PROTOCOL.md, `status`).
    static func writeDamage(_ damage: DamageReport, to w: inout JSONWriter) {
        func strings(_ list: [String]) {
            w.raw("[")
            for (i, text) in list.enumerated() {
                if i > 0 { w.raw(UInt8(ascii: ",")) }
                w.string(text)
            }
            w.raw("]")
        }
        w.raw("{\"segments\":[")
        for (i, s) in damage.segments.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.raw("{\"segment\":")
            w.string(s.name)
            w.raw(",\"state\":")
            w.string(s.repairedWhole ? "repaired" : "damaged")
            w.raw(",\"byte_ranges\":[")
            for (j, r) in s.byteRanges.enumerated() {
                if j > 0 { w.raw(UInt8(ascii: ",")) }
                w.raw("[")
                w.integer(r.lowerBound)
                w.raw(",")
                w.integer(r.upperBound)
                w.raw("]")
            }
            w.raw("],\"events\":")
            w.integer(s.events)
            w.raw(",\"missing\":")
            strings(s.missing)
            w.raw(",\"repaired\":")
            w.integer(s.repaired)
            w.raw(",\"waiting\":")
            w.integer(s.waiting)
            w.raw(",\"unidentified\":")
            w.integer(s.unidentified)
            w.raw("}")
        }
        w.raw("],\"lost\":")
        strings(damage.lost)
        w.raw("}")
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
        w.raw(",\"forks\":")
        w.integer(s.forks)
        if let damage = s.damage {
            w.raw(",\"damage\":")
            writeDamage(damage, to: &w)
        }
        if let p = s.projections {
            w.raw(",\"projections\":{\"folded\":")
            w.integer(p.folded)
            w.raw(",\"folded_since_start\":")
            w.integer(p.sinceStart)
            w.raw(",\"from_snapshot\":")
            w.bool(p.fromSnapshot)
            w.raw(",\"quarantined\":")
            w.integer(s.quarantined)
            w.raw(",\"quarantined_first\":[")
            for (i, q) in s.quarantinedFirst.enumerated() {
                if i > 0 { w.raw(UInt8(ascii: ",")) }
                w.raw("{\"id\":")
                w.string(q.id)
                w.raw(",\"reason\":")
                w.string(q.reason)
                w.raw("}")
            }
            w.raw("]}")
        }
        w.raw(",\"peers\":[")
        for (i, p) in s.peers.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.raw("{\"key\":")
            w.string(p.key)
            if let node = p.node {
                w.raw(",\"node\":")
                w.string(node)
            }
            if let address = p.address {
                w.raw(",\"address\":")
                w.string(address)
            }
            w.raw(",\"direction\":")
            w.string(p.direction)
            w.raw(",\"connected\":")
            w.bool(p.connected)
            if let since = p.sinceMillis {
                w.raw(",\"since\":")
                w.string(RFC3339.format(millis: since))
            }
            if let last = p.lastContactMillis {
                w.raw(",\"last_contact\":")
                w.string(RFC3339.format(millis: last))
            }
            w.raw(",\"events_sent\":")
            w.integer(p.eventsSent)
            w.raw(",\"events_received\":")
            w.integer(p.eventsReceived)
            w.raw(",\"peer_lacks\":")
            w.integer(p.peerLacks)
            w.raw(",\"we_lack\":")
            w.integer(p.weLack)
            if let e = p.lastError {
                w.raw(",\"last_error\":")
                w.string(e)
            }
            let l = p.link
            w.raw(",\"link\":{\"version\":")
            w.integer(l.version)
            w.raw(",\"compression\":")
            if let c = l.compression { w.string(c) } else { w.raw("null") }
            w.raw(",\"raw_bytes_sent\":")
            w.integer(l.rawBytesSent)
            w.raw(",\"wire_bytes_sent\":")
            w.integer(l.wireBytesSent)
            w.raw(",\"raw_bytes_received\":")
            w.integer(l.rawBytesReceived)
            w.raw(",\"wire_bytes_received\":")
            w.integer(l.wireBytesReceived)
            w.raw(",\"compression_ratio\":")
            let raw = l.rawBytesSent + l.rawBytesReceived
            if raw == 0 {
                w.raw("null")
            } else {
                // Three decimals, without Foundation: wire bytes per raw byte, both directions.
                let m = Int((Double(l.wireBytesSent + l.wireBytesReceived) / Double(raw) * 1000).rounded())
                let fraction = String(m % 1000)
                w.raw(Array("\(m / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)".utf8))
            }
            w.raw(",\"message_bytes\":")
            w.integer(l.messageBytes)
            w.raw(",\"bytes_per_second\":")
            w.integer(Int64(l.bytesPerSecond.isFinite ? min(l.bytesPerSecond, 1e15) : 0))
            w.raw(",\"cuts_mid_message\":")
            w.integer(l.cutsMidMessage)
            w.raw(",\"bytes_lost_to_cuts\":")
            w.integer(l.bytesLostToCuts)
            w.raw(",\"oldest_lacked_age_seconds\":")
            if let a = l.oldestLackedAgeSeconds { w.integer(a) } else { w.raw("null") }
            w.raw("}}")
        }
        w.raw("]")
        w.raw(",\"held\":[")
        for (i, id) in s.held.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.string(id)
        }
        w.raw("],\"trust\":")
        w.object(strings: s.trust)
        w.raw("}\n")
        return w.bytes
    }

    /// A projection view with its query-time part: `{"ok":true,"view":{…},"as_of":…,"ages":{…}}`.
    /// The view's bytes are identical on every node that holds the same events; `as_of` and the
    /// per-origin ages (seconds since the newest event of each origin was recorded) are not.
    /// `provisional`, when given, lists events held ahead of their origin's chain (sync's fresh
    /// lane): shown beside the view, not folded into it.
    public static func view(_ view: [UInt8], freshness: [UInt8]?, provisional: [UInt8]? = nil) -> [UInt8] {
        ViewAnswer(view: view, freshness: freshness, provisional: provisional).bytes
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

/// The parts of a view answer (`ClientResponse.view`), written out once: on the event loop
/// straight into the channel's buffer, so an answer copied from the published views is copied
/// once more, not three times.
public struct ViewAnswer: Sendable {
    public var view: [UInt8]
    /// `{"ages":{…},"as_of":"…"}`: its members go beside the view.
    public var freshness: [UInt8]?
    public var provisional: [UInt8]?

    public init(view: [UInt8], freshness: [UInt8]?, provisional: [UInt8]? = nil) {
        self.view = view
        self.freshness = freshness
        self.provisional = provisional
    }

    static let head: StaticString = #"{"ok":true,"view":"#
    static let provisionalKey: StaticString = #","provisional":"#

    /// Bytes written by `write(to:)`.
    public var count: Int {
        var n = Self.head.utf8CodeUnitCount + view.count + 2
        if let provisional { n += Self.provisionalKey.utf8CodeUnitCount + provisional.count }
        if let freshness, freshness.count > 2 { n += freshness.count - 1 }
        return n
    }

    /// The answer line, newline included.
    public func write(to buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: count)
        buffer.writeStaticString(Self.head)
        buffer.writeBytes(view)
        if let provisional {
            buffer.writeStaticString(Self.provisionalKey)
            buffer.writeBytes(provisional)
        }
        if let freshness, freshness.count > 2 {
            buffer.writeInteger(UInt8(ascii: ","))
            buffer.writeBytes(freshness[1..<(freshness.count - 1)])
        }
        buffer.writeStaticString("}\n")
    }

    /// The answer line, newline included (for a caller without a channel's buffer).
    public var bytes: [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        write(to: &buffer)
        return Array(buffer.readableBytesView)
    }
}

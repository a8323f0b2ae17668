/// The `incidents` query: filters, a page size and where the previous page ended.
///
/// Incidents are listed newest `occurred_at` first, then by id; only incidents whose report is
/// held are listed, retracted ones included (status `retracted`). `since`/`until` select by the
/// `occurred_at` day, as the sector counts do (see DayRange.swift).
public struct IncidentQuery: Sendable, Equatable {
    public static let defaultLimit = 50
    public static let maximumLimit = 1000
    public static let statuses = ["open", "closed", "retracted"]

    public var sector: String?
    /// One of `Vocabulary.incidentCategories`.
    public var category: String?
    /// `open`, `closed` or `retracted`.
    public var status: String?
    /// One of `Vocabulary.verificationStatuses`.
    public var verification: String?
    public var range: DayRange
    public var limit: Int
    /// `next_cursor` of the previous page.
    public var cursor: String?

    public init(
        sector: String? = nil, category: String? = nil, status: String? = nil, verification: String? = nil,
        range: DayRange = .all, limit: Int = IncidentQuery.defaultLimit, cursor: String? = nil
    ) {
        self.sector = sector
        self.category = category
        self.status = status
        self.verification = verification
        self.range = range
        self.limit = limit
        self.cursor = cursor
    }
}

/// Where a page of the incidents list ended: the last row's occurred_at and id, written as
/// `<millis>.<hex of the id's UTF-8>` — opaque to clients, stable across nodes and restarts.
struct IncidentCursor: Equatable {
    var occurredAt: Int64
    var key: EntityKey

    var text: String {
        var id: [UInt8] = []
        key.appendText(to: &id)
        var out = Array("\(occurredAt).".utf8)
        for b in id {
            out.append(EntityKey.hexDigits[Int(b >> 4)])
            out.append(EntityKey.hexDigits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    init(occurredAt: Int64, key: EntityKey) {
        self.occurredAt = occurredAt
        self.key = key
    }

    init(_ text: String) throws(ProjectionQueryError) {
        let bytes = Array(text.utf8)
        let fail = ProjectionQueryError(.invalidCursor, "cursor \"\(text)\" was not handed out by this query")
        guard let dot = bytes.firstIndex(of: UInt8(ascii: ".")),
            let millis = Int64(String(decoding: bytes[..<dot], as: UTF8.self))
        else { throw fail }
        let hex = bytes[(dot + 1)...]
        guard !hex.isEmpty, hex.count % 2 == 0 else { throw fail }
        var id: [UInt8] = []
        var high: UInt8? = nil
        for c in hex {
            let d: UInt8
            switch c {
            case 0x30...0x39: d = c - 0x30
            case 0x61...0x66: d = c - 0x61 + 10
            default: throw fail
            }
            if let h = high {
                id.append(h << 4 | d)
                high = nil
            } else {
                high = d
            }
        }
        guard let s = String(validating: id, as: UTF8.self) else { throw fail }
        self.init(occurredAt: millis, key: EntityKey(s))
    }
}

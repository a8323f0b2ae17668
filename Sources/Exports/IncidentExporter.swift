public import IncidentModel

// The analysts' exports of the incidents, written page by page as the rows of the `incidents`
// view arrive (`begin`, then `append` per page, then `end`), so an export of any size streams.
//
// csv      RFC 4180: UTF-8 (no byte-order mark), CRLF line ends, one header line of the column
//          names (ExportColumns.swift), then one line per incident. A field holding a comma, a
//          double quote, CR or LF is quoted, its quotes doubled. An empty field is unknown.
//          A text field that a spreadsheet would run as a formula (one starting with `=`, `+`,
//          `-`, `@`, a tab or CR) is written with a `'` in front: summaries and place names come
//          from the field, and an export is opened at HQ. Numbers are never changed.
// hxl      The same, with a second header line of HXL hashtags (`#date +occurred`,
//          `#geo +lat`, `#affected +killed`, …), which HDX and the HXL tools read.
// geojson  RFC 7946: one FeatureCollection; a Feature per incident whose geometry is the Point
//          [lon, lat] of its location, or null when the location has no coordinates, its `id`
//          the incident_id; the
//          properties are the columns by name, typed (numbers, booleans, `actors` an array,
//          null where CSV is empty; no `'` in front of anything).

/// The export formats of `incidentctl export --format` and `GET /api/v1/export?format=`.
public enum ExportFormat: String, CaseIterable, Sendable {
    case csv, hxl, geojson

    /// The HTTP Content-Type of the format.
    public var contentType: String {
        switch self {
        case .csv, .hxl: "text/csv; charset=utf-8"
        case .geojson: "application/geo+json"
        }
    }

    /// The usual file name extension.
    public var fileExtension: String {
        switch self {
        case .csv, .hxl: "csv"
        case .geojson: "geojson"
        }
    }
}

/// Writes incidents rows in one format. Not thread-safe; one per export.
public struct IncidentExporter: Sendable {
    public let format: ExportFormat
    let columns: [ExportColumn]
    var rowsWritten = 0

    public init(format: ExportFormat) {
        self.format = format
        self.columns = ExportColumn.all
    }

    /// How many rows `append` has written.
    public var count: Int { rowsWritten }

    /// The bytes before the first row: the header line(s), or the opening of the collection.
    public func begin() -> [UInt8] {
        switch format {
        case .csv: return csvLine(columns.map(\.name))
        case .hxl: return csvLine(columns.map(\.name)) + csvLine(columns.map(\.hxl))
        case .geojson: return Array(#"{"type":"FeatureCollection","features":["#.utf8)
        }
    }

    /// The bytes of some rows (objects of the `incidents` view's `incidents` array).
    public mutating func append(_ rows: [JSONValue]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(rows.count * 512)
        for row in rows {
            switch format {
            case .csv, .hxl: out += csvLine(columns.map { Self.csvField($0.value(of: row)) }, alreadyQuoted: true)
            case .geojson:
                if rowsWritten > 0 { out.append(UInt8(ascii: ",")) }
                out += feature(row)
            }
            rowsWritten += 1
        }
        return out
    }

    /// The bytes after the last row.
    public func end() -> [UInt8] {
        format == .geojson ? Array("]}\n".utf8) : []
    }

    /// A whole export of `rows` at once.
    public static func export(_ rows: [JSONValue], format: ExportFormat) -> [UInt8] {
        var exporter = IncidentExporter(format: format)
        return exporter.begin() + exporter.append(rows) + exporter.end()
    }

    /// The rows of an `incidents` view (the `view` member of its answer) and its next cursor.
    public static func page(_ view: JSONValue) -> (rows: [JSONValue], nextCursor: String?) {
        (view["incidents"]?.arrayValue ?? [], view["next_cursor"]?.stringValue)
    }

    // MARK: CSV

    func csvLine(_ fields: [String], alreadyQuoted: Bool = false) -> [UInt8] {
        var line: [UInt8] = []
        for (i, field) in fields.enumerated() {
            if i > 0 { line.append(UInt8(ascii: ",")) }
            line += alreadyQuoted ? Array(field.utf8) : Self.quoted(field)
        }
        line += [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
        return line
    }

    /// One CSV field, quoted where needed.
    static func csvField(_ cell: ExportCell) -> String {
        switch cell {
        case .empty: return ""
        case .number(let literal): return literal
        case .bool(let b): return b ? "true" : "false"
        case .text(let s): return String(decoding: quoted(defused(s)), as: UTF8.self)
        case .list(let items): return String(decoding: quoted(defused(items.joined(separator: "; "))), as: UTF8.self)
        }
    }

    /// Text a spreadsheet would take for a formula gets a `'` in front.
    static func defused(_ s: String) -> String {
        guard let first = s.utf8.first else { return s }
        return [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D].contains(first) ? "'" + s : s
    }

    static func quoted(_ s: String) -> [UInt8] {
        let bytes = Array(s.utf8)
        let special: Set<UInt8> = [UInt8(ascii: ","), UInt8(ascii: "\""), 0x0D, 0x0A]
        guard bytes.contains(where: special.contains) else { return bytes }
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for b in bytes {
            if b == UInt8(ascii: "\"") { out.append(b) }
            out.append(b)
        }
        out.append(UInt8(ascii: "\""))
        return out
    }

    // MARK: GeoJSON

    func feature(_ row: JSONValue) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 1024)
        w.raw(#"{"type":"Feature","id":"#)
        if let id = row["incident_id"]?.stringValue { w.string(id) } else { w.raw("null") }
        w.raw(#","geometry":"#)
        if case .number(let lat)? = row["location"]?["lat"], case .number(let lon)? = row["location"]?["lon"] {
            w.raw(#"{"type":"Point","coordinates":["#)
            w.raw(Array(lon.utf8))
            w.raw(UInt8(ascii: ","))
            w.raw(Array(lat.utf8))
            w.raw("]}")
        } else {
            w.raw("null")
        }
        w.raw(#","properties":{"#)
        for (i, column) in columns.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.string(column.name)
            w.raw(UInt8(ascii: ":"))
            switch column.value(of: row) {
            case .empty: w.raw("null")
            case .number(let literal): w.raw(Array(literal.utf8))
            case .bool(let b): w.bool(b)
            case .text(let s): w.string(s)
            case .list(let items):
                w.raw(UInt8(ascii: "["))
                for (j, item) in items.enumerated() {
                    if j > 0 { w.raw(UInt8(ascii: ",")) }
                    w.string(item)
                }
                w.raw(UInt8(ascii: "]"))
            }
        }
        w.raw("}}")
        return w.bytes
    }
}

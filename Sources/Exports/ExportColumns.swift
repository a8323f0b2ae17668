public import IncidentModel

// The columns of the analysts' exports, one table for all three formats: the CSV header, the
// HXL hashtag row under it and the GeoJSON feature properties all come from it, in this order.
// docs/EVENTS.md ("Exports for analysts") lists the columns and how they line up with ACLED's
// and UCDP's fields.
//
// Each column reads one value out of a row of the `incidents` view (docs/PROTOCOL.md "Views";
// the shape is at the top of Sources/Projections/ProjectionState+IncidentList.swift):
//
// - times, ids and vocabulary values as the row has them;
// - `location` is split into `location`, `admin1`, `lat`, `lon` and `geo_precision`, numbers
//   kept exactly as written (`15.930` stays `15.930`);
// - `killed`, `wounded`, `missing` are the totals over all groups of the figure the sector view
//   counts; `*_low` and `*_high` the range of the origins' reports (UCDP's low and high);
//   `<group>_<kind>` the figure by group. All are empty (GeoJSON: null) without a casualty report:
//   no report is "not known", which is not zero.
// - `actors` is a list: joined with "; " in CSV, an array in GeoJSON.

/// A value of one cell.
public enum ExportCell: Equatable, Sendable {
    /// Unknown or not set: an empty CSV field, `null` in GeoJSON.
    case empty
    case text(String)
    /// A JSON number's text, written as it is.
    case number(String)
    case bool(Bool)
    case list([String])
}

/// One column of the exports: its CSV name (also the GeoJSON property), its HXL hashtag and
/// attributes, and how it reads a row.
public struct ExportColumn: Sendable {
    public let name: String
    public let hxl: String
    let read: @Sendable (JSONValue) -> ExportCell

    init(_ name: String, _ hxl: String, _ read: @escaping @Sendable (JSONValue) -> ExportCell) {
        self.name = name
        self.hxl = hxl
        self.read = read
    }

    public func value(of row: JSONValue) -> ExportCell { read(row) }
}

extension ExportColumn {
    /// Every column, in export order.
    public static let all: [ExportColumn] = identity + place + figures + groups + provenance

    static let identity: [ExportColumn] = [
        ExportColumn("incident_id", "#event +id") { text($0["incident_id"]) },
        ExportColumn("occurred_at", "#date +occurred") { text($0["occurred_at"]) },
        ExportColumn("time_precision", "#date +precision") { text($0["time_precision"]) },
        ExportColumn("reported_at", "#date +reported") { text($0["reported_at"]) },
        ExportColumn("updated_at", "#date +updated") { text($0["updated_at"]) },
        ExportColumn("category", "#event +type") { text($0["category"]) },
        ExportColumn("status", "#status +incident") { text($0["status"]) },
        ExportColumn("verification", "#status +verification") { text($0["verification"]) },
        ExportColumn("summary", "#description") { text($0["summary"]) },
    ]

    static let place: [ExportColumn] = [
        ExportColumn("sector", "#region +sector") { text($0["sector"]) },
        ExportColumn("location", "#loc +name") { text($0["location"]?["name"]) },
        ExportColumn("admin1", "#adm1 +name") { text($0["location"]?["admin1"]) },
        ExportColumn("lat", "#geo +lat") { number($0["location"]?["lat"]) },
        ExportColumn("lon", "#geo +lon") { number($0["location"]?["lon"]) },
        ExportColumn("geo_precision", "#geo +precision") { text($0["location"]?["precision"]) },
    ]

    /// Casualty kinds with their HXL attribute (HXL says `+injured` for wounded).
    static let kinds: [(name: String, hxl: String)] = [("killed", "+killed"), ("wounded", "+injured"), ("missing", "+missing")]

    /// Totals over all groups: the counted figure, then the range of the reports.
    static let figures: [ExportColumn] =
        kinds.flatMap { kind, attribute in
            [
                ExportColumn(kind, "#affected \(attribute)") { row in figureTotal(row, kind) },
                ExportColumn("\(kind)_low", "#affected \(attribute) +low") { number($0["casualties"]?["low"]?[kind]) },
                ExportColumn("\(kind)_high", "#affected \(attribute) +high") { number($0["casualties"]?["high"]?[kind]) },
            ]
        } + [
            ExportColumn("casualties_disputed", "#status +casualties") { row in
                row["casualties"]?["disputed"]?.boolValue.map(ExportCell.bool) ?? .empty
            },
            ExportColumn("casualty_reports", "#meta +reports") { number($0["casualties"]?["reports"]) },
        ]

    /// The counted figure by group and kind.
    static let groups: [ExportColumn] = Vocabulary.casualtyGroups.flatMap { group in
        kinds.map { kind, attribute in
            ExportColumn("\(group)_\(kind)", "#affected \(attribute) +\(group)") { number($0["casualties"]?["figure"]?[group]?[kind]) }
        }
    }

    static let provenance: [ExportColumn] = [
        ExportColumn("actors", "#org +actors") { row in
            guard let list = row["actors"]?.arrayValue else { return .empty }
            return .list(list.compactMap(\.stringValue))
        },
        ExportColumn("source", "#meta +source") { text($0["source"]) },
        ExportColumn("confidence", "#meta +confidence") { text($0["confidence"]) },
        ExportColumn("reported_by", "#meta +reported_by") { text($0["reported_by"]) },
    ]

    static func text(_ v: JSONValue?) -> ExportCell { v?.stringValue.map(ExportCell.text) ?? .empty }

    static func number(_ v: JSONValue?) -> ExportCell {
        if case .number(let literal)? = v { return .number(literal) }
        return .empty
    }

    /// The sum over all groups of one kind of the counted figure.
    static func figureTotal(_ row: JSONValue, _ kind: String) -> ExportCell {
        guard let groups = row["casualties"]?["figure"]?.objectMembers else { return .empty }
        var sum: Int64 = 0
        for (_, counts) in groups { sum &+= counts[kind]?.integerValue ?? 0 }
        return .number(String(sum))
    }
}

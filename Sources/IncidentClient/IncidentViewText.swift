public import IncidentModel

/// The human layout of `incidentctl incident ID`: the incident's state and fields (each with the
/// event that set it), its casualty figure and the report of each reporting node, its
/// retractions, then its history one event a line. The view's shape is documented at the top of
/// Sources/Projections/ProjectionState+IncidentView.swift.
public enum IncidentViewText {
    public static func lines(_ view: JSONValue) -> [String] {
        var out: [String] = []
        func row(_ label: String, _ value: String, _ event: String? = nil) {
            let padded = label.padding(toLength: 14, withPad: " ", startingAt: 0)
            out.append(event.map { "\(padded)\(value)  (\($0))" } ?? "\(padded)\(value)")
        }
        row("incident", view["incident_id"]?.stringValue ?? "?")
        row("sector", view["sector"]?.stringValue ?? "-")
        row("status", view["status"]?["value"]?.stringValue ?? "-", view["status"]?["event"]?.stringValue)
        row("verification", view["verification"]?["value"]?.stringValue ?? "-", view["verification"]?["event"]?.stringValue)
        row("reported by", view["reported_by"]?.stringValue ?? "- (the report is not held yet)")
        let counted = view["counted"]?.boolValue == true
        row("counted", counted ? "yes" : view["retracted"]?.boolValue == true ? "no (retracted)" : "no")

        let fields = view["fields"]?.objectMembers ?? []
        if !fields.isEmpty {
            out.append("fields")
            let width = fields.map(\.key.count).max() ?? 0
            for f in fields {
                let value = text(f.value["value"] ?? .null)
                let event = f.value["event"]?.stringValue.map { "  (\($0))" } ?? ""
                out.append("  \(f.key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)\(event)")
            }
        }

        let casualties = view["casualties"]
        let reports = casualties?["reports"]?.arrayValue ?? []
        if let figure = casualties?["figure"], figure["counts"] != nil {
            let disputed = casualties?["disputed"]?.boolValue == true ? "  DISPUTED: the reports disagree" : ""
            row("casualties", counts(figure["counts"]) + disputed, figure["event"]?.stringValue)
        } else {
            row("casualties", reports.isEmpty ? "none reported" : "no figure")
        }
        if !reports.isEmpty {
            let width = reports.compactMap { $0["origin"]?.stringValue?.count }.max() ?? 0
            for r in reports {
                let origin = (r["origin"]?.stringValue ?? "?").padding(toLength: width, withPad: " ", startingAt: 0)
                out.append("  reported by \(origin)  \(counts(r["counts"]))  (\(r["event"]?.stringValue ?? "?"))")
            }
        }

        for r in view["retractions"]?.arrayValue ?? [] {
            let duplicate = r["duplicate_of"]?.stringValue.map { " of \($0)" } ?? ""
            row("retracted", (r["reason"]?.stringValue ?? "?") + duplicate, r["event"]?.stringValue)
        }

        let history = view["history"]?.arrayValue ?? []
        out.append("history")
        let idWidth = history.compactMap { $0["id"]?.stringValue?.count }.max() ?? 0
        for h in history {
            let id = (h["id"]?.stringValue ?? "?").padding(toLength: idWidth, withPad: " ", startingAt: 0)
            out.append("  \(h["hlc"]?.stringValue ?? "?")  \(id)  \(h["type"]?.stringValue ?? "?")")
        }
        return out
    }

    /// "peacekeepers killed 1 wounded 2, civilians missing 3": the groups and kinds that are not
    /// zero, or "none".
    static func counts(_ groups: JSONValue?) -> String {
        let parts = (groups?.objectMembers ?? []).compactMap { group -> String? in
            let kinds = Vocabulary.casualtyKinds.compactMap { kind -> String? in
                guard let n = group.value[kind]?.integerValue, n != 0 else { return nil }
                return "\(kind) \(n)"
            }
            return kinds.isEmpty ? nil : "\(group.key) " + kinds.joined(separator: " ")
        }
        return parts.isEmpty ? "none" : parts.joined(separator: ", ")
    }

    /// A field's value: a string as it is, a list of strings comma-separated, an object as
    /// `key value` pairs, anything else as compact JSON.
    static func text(_ value: JSONValue) -> String {
        if let s = value.stringValue { return s }
        if case .null = value { return "-" }
        if let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) {
            return items.compactMap(\.stringValue).joined(separator: ", ")
        }
        if let members = value.objectMembers {
            return members.map { "\($0.key) \(text($0.value))" }.joined(separator: ", ")
        }
        var w = JSONWriter()
        w.canonical(value)
        return String(decoding: w.bytes, as: UTF8.self)
    }
}

import ArgumentParser
import Foundation
import IncidentClient
import IncidentModel

/// Sends one view query; prints the response JSON (`--json`) or hands the parsed view to `human`.
func runView(_ options: NodeOptions, _ request: [UInt8], json: Bool, human: (JSONValue, JSONValue) -> Void) async throws {
    let line = try await IncidentConnection.withConnection(to: try options.address()) { connection in
        try await connectionRequestRaw(connection, request)
    }
    let response = try IncidentConnection.decode(line)
    if json {
        print(String(decoding: line, as: UTF8.self))
    } else {
        human(response["view"] ?? .null, response)
    }
}

func requestLine(_ members: [(String, JSONValue?)]) -> [UInt8] {
    var w = JSONWriter()
    w.raw("{")
    var first = true
    for (k, v) in members {
        guard let v else { continue }
        if !first { w.raw(",") }
        first = false
        w.string(k)
        w.raw(":")
        w.canonical(v)
    }
    w.raw("}")
    return w.bytes
}

enum ViewText {
    static func int(_ v: JSONValue?) -> String {
        guard let v else { return "-" }
        if case .null = v { return "-" }
        if let n = v.integerValue { return "\(n)" }
        if case .number(let s) = v { return s }
        return v.stringValue ?? "-"
    }

    static func members(_ v: JSONValue?) -> [(key: String, value: JSONValue)] { v?.objectMembers ?? [] }

    /// The lines describing one sector's (or the mission's) figures.
    static func body(_ v: JSONValue) -> [String] {
        var out: [String] = []
        let inc = v["incidents"]
        out.append("incidents   total \(int(inc?["total"]))  open \(int(inc?["open"]))  closed \(int(inc?["closed"]))")
        let rows = members(inc?["by_category"]).filter { ($0.value["total"]?.integerValue ?? 0) > 0 }
        if !rows.isEmpty {
            for line in Format.table([["  category", "total", "open"]] + rows.map { ["  " + $0.key, int($0.value["total"]), int($0.value["open"])] }) {
                out.append(line)
            }
        }
        let cas = v["casualties"]
        out.append("casualties  killed \(int(cas?["total"]?["killed"]))  wounded \(int(cas?["total"]?["wounded"]))  missing \(int(cas?["total"]?["missing"]))  disputed incidents \(int(cas?["disputed_count"]))")
        let groups = members(cas?["groups"])
        for line in Format.table([["  group", "killed", "wounded", "missing"]] + groups.map { ["  " + $0.key, int($0.value["killed"]), int($0.value["wounded"]), int($0.value["missing"])] }) {
            out.append(line)
        }
        let m = v["medevac"]
        let t = m?["request_to_dispatch_minutes"]
        out.append("medevac     requested \(int(m?["requested"]))  dispatched \(int(m?["dispatched"]))  completed \(int(m?["completed"]))  open \(int(m?["open"]))  request→dispatch min: median \(int(t?["median"]))  p90 \(int(t?["p90"]))  max \(int(t?["max"]))")
        let e = v["election"]
        let c = e?["consignments"]
        out.append("election    consignments dispatched \(int(c?["dispatched"]))  delivered \(int(c?["delivered"]))  outstanding \(int(c?["outstanding"]))  personnel moved \(int(e?["personnel_moved"]?["people"]))")
        let p = v["polling_stations"]
        out.append("polling     " + members(p).filter { $0.key != "total" }.map { "\($0.key) \(int($0.value))" }.joined(separator: "  "))
        let i = v["intel"]
        out.append("intel       " + members(i?["sightings"]).map { "\($0.key) \(int($0.value))" }.joined(separator: "  "))
        return out
    }

    static func freshness(_ view: JSONValue, _ response: JSONValue) -> [String] {
        let rows = members(view["freshness"]).map { o -> [String] in
            ["  " + o.key, int(o.value["seq"]), o.value["recorded_at"]?.stringValue ?? "-", int(response["ages"]?[o.key]) + " s"]
        }
        guard !rows.isEmpty else { return ["freshness   no events held"] }
        return ["freshness   as of \(response["as_of"]?.stringValue ?? "?")"] + Format.table([["  origin", "seq", "newest recorded_at", "age"]] + rows)
    }
}

struct SectorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sector", abstract: "One sector's view: incidents, casualties, medevacs, elections, intel, freshness.")
    @OptionGroup var options: NodeOptions
    @Argument(help: "Sector name, e.g. east.") var name: String
    @Option(help: "From this date (2026-11-01) or RFC 3339 time.") var since: String?
    @Option(help: "Up to this date or time.") var until: String?
    @Flag(help: "Print the response as one JSON object.") var json = false

    func run() async throws {
        let line = requestLine([("op", .string("sector")), ("sector", .string(name)), ("since", since.map(JSONValue.string)), ("until", until.map(JSONValue.string))])
        try await runView(options, line, json: json) { view, response in
            print("sector \(name)" + (since != nil || until != nil ? "  (\(since ?? "…") to \(until ?? "…"))" : ""))
            for l in ViewText.body(view) { print(l) }
            for l in ViewText.freshness(view, response) { print(l) }
        }
    }
}

struct OverviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "overview", abstract: "Every sector side by side and the mission totals.")
    @OptionGroup var options: NodeOptions
    @Option(help: "From this date or RFC 3339 time.") var since: String?
    @Option(help: "Up to this date or time.") var until: String?
    @Flag(help: "Print the response as one JSON object.") var json = false

    func run() async throws {
        let line = requestLine([("op", .string("overview")), ("since", since.map(JSONValue.string)), ("until", until.map(JSONValue.string))])
        try await runView(options, line, json: json) { view, response in
            let sectors = view["sectors"]?.arrayValue ?? []
            let columns = sectors.map { $0["sector"]?.stringValue ?? "?" } + ["mission"]
            let all = sectors + [view["mission"] ?? .null]
            func row(_ label: String, _ get: (JSONValue) -> JSONValue?) -> [String] { [label] + all.map { ViewText.int(get($0)) } }
            let rows: [[String]] = [
                [""] + columns,
                row("incidents", { $0["incidents"]?["total"] }),
                row("  open", { $0["incidents"]?["open"] }),
                row("killed", { $0["casualties"]?["total"]?["killed"] }),
                row("wounded", { $0["casualties"]?["total"]?["wounded"] }),
                row("missing", { $0["casualties"]?["total"]?["missing"] }),
                row("  peacekeepers killed", { $0["casualties"]?["groups"]?["peacekeepers"]?["killed"] }),
                row("  civilians killed", { $0["casualties"]?["groups"]?["civilians"]?["killed"] }),
                row("medevac requested", { $0["medevac"]?["requested"] }),
                row("  open", { $0["medevac"]?["open"] }),
                row("  median min to dispatch", { $0["medevac"]?["request_to_dispatch_minutes"]?["median"] }),
                row("consignments outstanding", { $0["election"]?["consignments"]?["outstanding"] }),
                row("polling stations attacked", { $0["polling_stations"]?["attacked"] }),
                row("intel sightings", { $0["intel"]?["total"] }),
            ]
            for l in Format.table(rows) { print(l) }
            for l in ViewText.freshness(view, response) { print(l) }
        }
    }
}

struct IncidentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "incident", abstract: "One incident: current state, who set each field, casualty reports, history.")
    @OptionGroup var options: NodeOptions
    @Argument(help: "The incident_id.") var id: String
    @Flag(help: "Print the response as one JSON object.") var json = false

    func run() async throws {
        let line = requestLine([("op", .string("incident")), ("id", .string(id))])
        try await runView(options, line, json: json) { view, _ in
            for l in IncidentViewText.lines(view) { print(l) }
        }
    }
}

struct IncidentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "incidents", abstract: "List incidents, newest first, with filters and paging.")
    @OptionGroup var options: NodeOptions
    @Option var sector: String?
    @Option var category: String?
    @Option(help: "open, closed or retracted.") var status: String?
    @Option(help: "unverified, verified or disputed.") var verification: String?
    @Option var since: String?
    @Option var until: String?
    @Option var limit: Int = 50
    @Option(help: "Continue after this cursor (printed at the end of a page).") var cursor: String?
    @Flag(help: "Print the response as one JSON object.") var json = false

    func run() async throws {
        let line = requestLine([
            ("op", .string("incidents")), ("sector", sector.map(JSONValue.string)), ("category", category.map(JSONValue.string)),
            ("status", status.map(JSONValue.string)), ("verification", verification.map(JSONValue.string)),
            ("since", since.map(JSONValue.string)), ("until", until.map(JSONValue.string)), ("limit", .number("\(limit)")),
            ("cursor", cursor.map(JSONValue.string)),
        ])
        try await runView(options, line, json: json) { view, _ in
            let rows = (view["incidents"]?.arrayValue ?? []).map { i -> [String] in
                [
                    i["occurred_at"]?.stringValue ?? "-", i["sector"]?.stringValue ?? "-", i["category"]?.stringValue ?? "-",
                    i["status"]?.stringValue ?? "-", i["verification"]?.stringValue ?? "-", i["incident_id"]?.stringValue ?? "-",
                    String((i["summary"]?.stringValue ?? "").prefix(60)),
                ]
            }
            for l in Format.table([["occurred_at", "sector", "category", "status", "verification", "incident_id", "summary"]] + rows) { print(l) }
            if let next = view["next_cursor"]?.stringValue { print("more: --cursor \(next)") }
        }
    }
}

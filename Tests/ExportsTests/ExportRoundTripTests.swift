import Exports
import IncidentBench
import IncidentModel
import Projections
import Testing

/// An export holds the figures the views count: summed per sector over the exported rows, the
/// casualties, incidents by category and disputes equal each sector's view, for a log where two
/// offices report casualties of the same incidents and sometimes disagree.
@Suite struct ExportRoundTripTests {
    /// Generated field events from `gao`, and from `bamako-hq` a second casualty report of about
    /// every other incident that has one, half of them with other figures.
    static func log(events: Int) -> [Event] {
        var generator = EventGenerator(seed: 13)
        var rng = SplitMix64(seed: 7)
        var chains: [String: (UInt64, EventHash)] = [:]
        var out: [Event] = []
        var millis: Int64 = 1_796_000_000_000
        func add(_ origin: String, _ type: String, _ sector: String, _ data: JSONValue) {
            millis += 60_000
            let chain = chains[origin]
            let seq = (chain?.0 ?? 0) + 1
            let e = Event.encode(
                Event.Draft(
                    origin: origin, seq: seq, prev: chain?.1, hlc: HLCTimestamp(wallMillis: UInt64(millis), counter: 0),
                    recordedAtMillis: millis, type: type, sector: sector, data: data.canonicalBytes),
                signer: nil)
            chains[origin] = (seq, e.hash)
            out.append(e)
        }
        for _ in 0..<events {
            let e = generator.next()
            add("gao", e.type.rawValue, e.sector, e.data)
            guard e.type == .casualtiesReported, rng.next() % 2 == 0, case .object(var members) = e.data else { continue }
            if rng.next() % 2 == 0, let i = members.firstIndex(where: { $0.key == "civilians" }) {
                members[i].value = .object([("killed", .number("\(rng.next() % 9)")), ("wounded", .number("\(rng.next() % 9)"))])
            }
            add("bamako-hq", e.type.rawValue, e.sector, .object(members))
        }
        return out
    }

    @Test(arguments: [ExportFormat.hxl, .geojson])
    func sumsOfTheExportPerSectorEqualTheSectorViews(format: ExportFormat) throws {
        let events = Self.log(events: 3000)
        let index = Dictionary(uniqueKeysWithValues: events.map { ($0.id, $0) })
        var state = ProjectionState()
        state.apply(contentsOf: events)

        // Every page of the list, as a client fetches it, through one exporter.
        var exporter = IncidentExporter(format: format)
        var bytes = exporter.begin()
        var query = IncidentQuery(limit: 97)
        while true {
            let page = IncidentExporter.page(try JSONParser.parse(try state.incidents(query, lookup: { index[$0] })))
            bytes += exporter.append(page.rows)
            guard let next = page.nextCursor else { break }
            query.cursor = next
        }
        bytes += exporter.end()

        let records = try Self.records(bytes, format)
        #expect(records.count == exporter.count)
        #expect(records.count > 500)
        #expect(Set(records.compactMap { $0["incident_id"] }).count == records.count)

        var disputedSeen = 0
        for sector in Sectors.defaultList {
            let view = try JSONParser.parse(try #require(state.sectorView(sector)))
            let counted = records.filter { $0["sector"] == sector && $0["status"] != "retracted" }
            func sum(_ column: String) -> Int64 { counted.reduce(0) { $0 + (Int64($1[column] ?? "") ?? 0) } }
            for kind in ["killed", "wounded", "missing"] {
                #expect(sum(kind) == view["casualties"]?["total"]?[kind]?.integerValue, "\(sector) \(kind)")
                for group in Vocabulary.casualtyGroups {
                    #expect(sum("\(group)_\(kind)") == view["casualties"]?["groups"]?[group]?[kind]?.integerValue, "\(sector) \(group) \(kind)")
                }
            }
            for (category, figures) in view["incidents"]?["by_category"]?.objectMembers ?? [] {
                let rows = counted.filter { $0["category"] == category }
                #expect(Int64(rows.count) == figures["total"]?.integerValue, "\(sector) \(category)")
                #expect(Int64(rows.filter { $0["status"] == "open" }.count) == figures["open"]?.integerValue, "\(sector) \(category) open")
            }
            let disputed = counted.filter { $0["casualties_disputed"] == "true" }.count
            #expect(Int64(disputed) == view["casualties"]?["disputed_count"]?.integerValue, "\(sector)")
            disputedSeen += disputed
        }
        #expect(disputedSeen > 10, "the log should hold disputes")
        // The range holds the counted figure; it is wider than a point exactly where reports disagree.
        for r in records where !(r["killed"] ?? "").isEmpty {
            for kind in ["killed", "wounded", "missing"] {
                let (low, best, high) = (Int(r["\(kind)_low"]!)!, Int(r[kind]!)!, Int(r["\(kind)_high"]!)!)
                #expect(low <= best && best <= high)
                if r["casualties_disputed"] != "true" { #expect(low == high) }
            }
        }
    }

    /// Each exported incident as column name → text (CSV fields; GeoJSON properties as JSON text).
    static func records(_ bytes: [UInt8], _ format: ExportFormat) throws -> [[String: String]] {
        switch format {
        case .csv, .hxl:
            let table = try CSV.parse(bytes)
            let header = table[0]
            return table.dropFirst(format == .hxl ? 2 : 1).map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
        case .geojson:
            let features = try JSONParser.parse(bytes)["features"]?.arrayValue ?? []
            return features.map { f in
                var r: [String: String] = [:]
                for (k, v) in f["properties"]?.objectMembers ?? [] {
                    switch v {
                    case .string(let s): r[k] = s
                    case .number(let n): r[k] = n
                    case .bool(let b): r[k] = b ? "true" : "false"
                    case .null: r[k] = ""
                    default: r[k] = String(decoding: v.canonicalBytes, as: UTF8.self)
                    }
                }
                return r
            }
        }
    }
}

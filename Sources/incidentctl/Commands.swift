import ArgumentParser
import Exports
import Foundation
import IncidentClient
import IncidentModel
import Wire

struct Append: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append one event; prints its id.",
        discussion: """
            The entity id the type needs (incident_id of incident.reported, medevac_id of medevac.requested, \
            consignment_id of election.material.dispatched, sighting_id of intel.sighting) is filled with a new \
            UUID when missing and printed on stderr.

            Event types (docs/EVENTS.md): \(Append.typeList).
            """)

    /// The catalogue's event types, comma-separated.
    static let typeList = EventType.allCases.map(\.rawValue).joined(separator: ", ")

    @OptionGroup var options: NodeOptions
    @Option(help: "Event type, e.g. incident.reported (the list is below).") var type: String
    @Option(help: "Sector where it happened: north, east, west, centre, bamako.") var sector: String
    @Option(help: "The payload as JSON.") var data: String?
    @Option(help: "A file holding the payload JSON.") var file: String?

    func validate() throws {
        guard EventType(rawValue: type) != nil else { throw ValidationError("--type: unknown event type '\(type)'; the types are \(Self.typeList)") }
    }

    func run() async throws {
        let text: String
        switch (data, file) {
        case (let d?, nil): text = d
        case (nil, let f?):
            guard let contents = FileManager.default.contents(atPath: f) else { throw ValidationError("--file: cannot read \(f)") }
            text = String(decoding: contents, as: UTF8.self)
        default: throw ValidationError("give the payload with exactly one of --data or --file")
        }
        var payload: JSONValue
        do {
            payload = try JSONParser.parse(Array(text.utf8))
        } catch {
            throw ValidationError("--data: \(error)")
        }
        let generatedKey = EntityIDs.key(for: type)
        var generated: String? = nil
        if let key = generatedKey, case .object(var members) = payload, payload[key] == nil {
            let id = UUID().uuidString.lowercased()
            members.append((key, .string(id)))
            payload = .object(members)
            generated = id
        }
        let line = Requests.append(eventObjects: [Requests.event(type: type, sector: sector, data: payload)])
        let response = try await IncidentConnection.withConnection(to: try options.address()) { try await $0.request(line) }
        if let generated, let key = generatedKey { FileHandle.standardError.write(Data("\(key): \(generated)\n".utf8)) }
        print(response["ids"]?.arrayValue?.first?.stringValue ?? "")
    }
}

/// Which payload field names the entity an event creates.
enum EntityIDs {
    static func key(for type: String) -> String? {
        switch type {
        case "incident.reported": return "incident_id"
        case "medevac.requested": return "medevac_id"
        case "election.material.dispatched": return "consignment_id"
        case "intel.sighting": return "sighting_id"
        default: return nil
        }
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print one stored event by id (origin:seq).")
    @OptionGroup var options: NodeOptions
    @Argument(help: "Event id, e.g. gao:12.") var id: String

    func run() async throws {
        let line = try await IncidentConnection.withConnection(to: try options.address()) { connection in
            try await connection.send(Requests.get(id: id))
            return try await connection.receiveResponse()
        }
        _ = try IncidentConnection.decode(line)
        // Print the stored bytes exactly: cut the envelope {"ok":true,"event": … } around them.
        let prefix = Array("{\"ok\":true,\"event\":".utf8)
        print(String(decoding: line[prefix.count..<(line.count - 1)], as: UTF8.self))
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the stored event lines, exactly, to stdout (or a bundle file); or the incidents for analysts.",
        discussion: """
            --bundle FILE writes the signed events the node holds beyond --for-vector (all of them without it) \
            as JSONL, for another node's `incidentctl ingest` (a USB stick on a convoy). Each origin's run ends \
            at a signed event, so the bundle verifies on its own.

            --format csv|hxl|geojson writes every incident (of --sector, else all) as it stands, with its \
            casualty figures (low/high where the reports disagree): CSV, CSV with a second header row of HXL \
            hashtags, or a GeoJSON FeatureCollection. The columns are in docs/EVENTS.md.
            """)
    @OptionGroup var options: NodeOptions
    @Option(help: "First local offset to export.") var from: UInt64?
    @Option(help: "Write a bundle to this file instead of stdout.") var bundle: String?
    @Option(name: .customLong("for-vector"), help: "Only events beyond this version vector, e.g. '{\"gao\":12}'.")
    var forVector: String?
    @Option(help: "Export the incidents in this format instead of the event lines: csv, hxl or geojson.")
    var format: String?
    @Option(help: "With --format: only the incidents of this sector.") var sector: String?
    @Option(help: "With --format: write to this file instead of stdout.") var output: String?

    func validate() throws {
        if let format, ExportFormat(rawValue: format) == nil {
            throw ValidationError("--format: expected csv, hxl or geojson, got \(format)")
        }
        if format != nil {
            if from != nil || bundle != nil || forVector != nil {
                throw ValidationError("--format exports incidents; --from, --bundle and --for-vector are for event lines")
            }
        } else if sector != nil || output != nil {
            throw ValidationError("--sector and --output go with --format csv|hxl|geojson")
        }
    }

    func run() async throws {
        if let format = format.flatMap(ExportFormat.init(rawValue:)) { return try await exportIncidents(format) }
        var beyond: VersionVector? = nil
        if let forVector {
            guard let json = try? JSONParser.parse(Array(forVector.utf8)), let v = VersionVector(json: json) else {
                throw ValidationError("--for-vector: expected a JSON object of node id → seq")
            }
            beyond = v
        }
        if bundle != nil && beyond == nil { beyond = VersionVector() }
        let out = try bundle.map(Self.create) ?? FileHandle.standardOutput
        let count = try await IncidentConnection.withConnection(to: try options.address()) { connection in
            var buffer: [UInt8] = []
            return try await connection.readStoredLines(from: from ?? 0, limit: 2000, beyond: beyond) { lines in
                buffer.removeAll(keepingCapacity: true)
                for line in lines {
                    buffer.append(contentsOf: line)
                    buffer.append(UInt8(ascii: "\n"))
                }
                try out.write(contentsOf: buffer)
            }
        }
        if let bundle {
            try out.synchronize()
            try out.close()
            FileHandle.standardError.write(Data("wrote \(count) events to \(bundle)\n".utf8))
        }
    }

    func exportIncidents(_ format: ExportFormat) async throws {
        let out = try output.map(Self.create) ?? FileHandle.standardOutput
        let count = try await IncidentConnection.withConnection(to: try options.address()) { connection in
            try await connection.exportIncidents(format: format, sector: sector) { try out.write(contentsOf: $0) }
        }
        if let output {
            try out.synchronize()
            try out.close()
            FileHandle.standardError.write(Data("wrote \(count) incidents to \(output)\n".utf8))
        }
    }

    static func create(_ path: String) throws -> FileHandle {
        guard FileManager.default.createFile(atPath: path, contents: nil) else { throw ValidationError("cannot create \(path)") }
        return try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }
}

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply a bundle (from `incidentctl export --bundle`) to a node under the ingest rule.",
        discussion: """
            Idempotent: events the node holds are counted as duplicates. Prints how many events were new, \
            duplicate, refused and skipped (not applied because an earlier event of their origin was refused), \
            then the first reasons. Exits 1 when any event was refused or skipped, 0 when all were applied.
            """)
    @OptionGroup var options: NodeOptions
    @Argument(help: "The bundle file, or - for standard input.") var file: String

    func run() async throws {
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            data = d
        }
        let lines = data.split(separator: UInt8(ascii: "\n")).map { Array($0) }.filter { !$0.isEmpty }
        var new = 0, duplicate = 0, pending = 0
        var refused: [(String, String, String)] = []
        var skipped: [(id: String, waitsOn: String)] = []
        // One connection for the whole bundle: the node holds an unsigned run across requests,
        // and remembers refused events so that their origin's later events are skipped.
        try await IncidentConnection.withConnection(to: try options.address()) { connection in
            var i = 0
            while i < lines.count {
                var chunk: [[UInt8]] = []
                var bytes = 0
                while i < lines.count, chunk.count < 2000, bytes < 512 << 10 || chunk.isEmpty {
                    chunk.append(lines[i])
                    bytes += lines[i].count
                    i += 1
                }
                let r = try await connection.request(Requests.ingest(eventLines: chunk))
                new += Int(r["new"]?.integerValue ?? 0)
                duplicate += Int(r["duplicate"]?.integerValue ?? 0)
                pending = Int(r["pending"]?.integerValue ?? 0)
                for x in r["refused"]?.arrayValue ?? [] {
                    refused.append((x["id"]?.stringValue ?? "?", x["code"]?.stringValue ?? "?", x["message"]?.stringValue ?? ""))
                }
                for x in r["skipped"]?.arrayValue ?? [] {
                    skipped.append((x["id"]?.stringValue ?? "?", x["waits_on"]?.stringValue ?? "?"))
                }
            }
        }
        print("new \(new)  duplicate \(duplicate)  refused \(refused.count + pending)  skipped \(skipped.count)")
        for (id, code, message) in refused.prefix(20) { print("  refused \(id): \(code): \(message)") }
        if refused.count > 20 { print("  … and \(refused.count - 20) more refused") }
        var waits: [String: (count: Int, first: String, last: String)] = [:]
        var order: [String] = []
        for s in skipped {
            if let w = waits[s.waitsOn] {
                waits[s.waitsOn] = (w.count + 1, w.first, s.id)
            } else {
                waits[s.waitsOn] = (1, s.id, s.id)
                order.append(s.waitsOn)
            }
        }
        for refusedID in order.prefix(20) {
            let w = waits[refusedID]!
            let range = w.count == 1 ? w.first : "\(w.first) … \(w.last)"
            print("  skipped \(w.count) (\(range)): they wait on \(refusedID), which was refused")
        }
        if pending > 0 { print("  \(pending) events at the end have no signed event after them (an incomplete bundle); refused") }
        if !refused.isEmpty || !skipped.isEmpty || pending > 0 { throw ExitCode(1) }
    }
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Follow new events live (own and replicated), one line each.")
    @OptionGroup var options: NodeOptions
    @Option(help: "Start at this offset instead of the end of the log.") var from: UInt64?

    func run() async throws {
        try await IncidentConnection.withConnection(to: try options.address()) { connection in
            var next: UInt64
            if let from {
                next = from
            } else {
                next = UInt64(try await connection.request(Requests.status)["events"]?.integerValue ?? 0)
            }
            while true {
                let request = Requests.read(from: next, limit: 1000, waitMillis: 30_000)
                let (lines, after) = try RawEvents.split(readResponse: try await connectionRequestRaw(connection, request))
                var buffer: [UInt8] = []
                for line in lines {
                    buffer.append(contentsOf: line)
                    buffer.append(UInt8(ascii: "\n"))
                }
                if !buffer.isEmpty { try FileHandle.standardOutput.write(contentsOf: buffer) }
                next = after
            }
        }
    }
}

func connectionRequestRaw(_ c: IncidentConnection, _ line: [UInt8]) async throws -> [UInt8] {
    try await c.send(line)
    return try await c.receiveResponse()
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Node id, events held, version vector, data size.")
    @OptionGroup var options: NodeOptions
    @Flag(help: "Print the status as one JSON object.") var json = false

    func run() async throws {
        let line = try await IncidentConnection.withConnection(to: try options.address()) { connection in
            try await connectionRequestRaw(connection, Requests.status)
        }
        let s = try IncidentConnection.decode(line)
        if json {
            print(String(decoding: line, as: UTF8.self))
            return
        }
        let vector = s["vector"].flatMap(VersionVector.init(json:)) ?? VersionVector()
        print("node        \(s["node"]?.stringValue ?? "?")")
        print("public key  \(s["public_key"]?.stringValue ?? "?")")
        print("events      \(s["events"]?.integerValue ?? 0)")
        print("data        \(Format.bytes(s["data_bytes"]?.integerValue ?? 0)) in \(s["segments"]?.integerValue ?? 0) segment(s)")
        if let failed = s["store_failed"]?.stringValue { print("STORE FAILED \(failed)") }
        print("forks       \(s["forks"]?.integerValue ?? 0)")
        if let damage = s["damage"] {
            for d in damage["segments"]?.arrayValue ?? [] {
                let ranges = (d["byte_ranges"]?.arrayValue ?? []).map { r in
                    (r.arrayValue ?? []).compactMap(\.integerValue).map(String.init).joined(separator: "-")
                }
                let missing = (d["missing"]?.arrayValue ?? []).compactMap(\.stringValue)
                var line = "damage      \(d["segment"]?.stringValue ?? "?") bytes \(ranges.joined(separator: ",")): \(d["state"]?.stringValue ?? "?"), "
                line += "\(d["events"]?.integerValue ?? 0) event(s), repaired \(d["repaired"]?.integerValue ?? 0)"
                if !missing.isEmpty { line += ", missing \(missing.prefix(8).joined(separator: ", "))\(missing.count > 8 ? " …" : "")" }
                if let n = d["waiting"]?.integerValue, n > 0 { line += ", \(n) waiting for the rest of their range" }
                if let n = d["unidentified"]?.integerValue, n > 0 { line += ", \(n) unidentified" }
                print(line)
            }
            let lost = (damage["lost"]?.arrayValue ?? []).compactMap(\.stringValue)
            if !lost.isEmpty { print("LOST        \(lost.count) own event(s) no peer holds: \(lost.prefix(16).joined(separator: ", "))") }
        }
        if let quarantined = s["projections"]?["quarantined"]?.integerValue, quarantined > 0 {
            print("quarantined \(quarantined) stored event(s) kept out of the views, the first:")
            for q in s["projections"]?["quarantined_first"]?.arrayValue ?? [] {
                print("  \(q["id"]?.stringValue ?? "?")  \(q["reason"]?.stringValue ?? "")")
            }
        }
        print("vector")
        let width = vector.origins.map(\.count).max() ?? 0
        for origin in vector.origins {
            print("  \(origin.padding(toLength: width, withPad: " ", startingAt: 0))  \(vector[origin])")
        }
        if let held = s["held"]?.arrayValue, !held.isEmpty {
            print("held        \(held.count) event(s) ahead of their chain: \(held.compactMap(\.stringValue).prefix(8).joined(separator: ", "))")
        }
        let peers = s["peers"]?.arrayValue ?? []
        if !peers.isEmpty {
            print("peers")
            let rows =
                [["peer", "node", "state", "since", "last contact", "sent", "received", "they lack", "we lack"]]
                + peers.map { p -> [String] in
                    [
                        p["address"]?.stringValue ?? p["key"]?.stringValue ?? "?", p["node"]?.stringValue ?? "-",
                        p["connected"]?.boolValue == true ? "connected" : "down", p["since"]?.stringValue ?? "-",
                        p["last_contact"]?.stringValue ?? "-", "\(p["events_sent"]?.integerValue ?? 0)",
                        "\(p["events_received"]?.integerValue ?? 0)", "\(p["peer_lacks"]?.integerValue ?? 0)",
                        "\(p["we_lack"]?.integerValue ?? 0)",
                    ]
                }
            for line in Format.table(rows) { print("  " + line) }
            print("links")
            let linkRows =
                [["peer", "version", "compression", "sent raw/wire", "received raw/wire", "ratio", "message", "throughput", "cut mid-message", "lost to cuts", "oldest lacked"]]
                + peers.map { p -> [String] in
                    let l = p["link"]
                    func bytes(_ key: String) -> String { Format.bytes(l?[key]?.integerValue ?? 0) }
                    let ratio =
                        l?["compression_ratio"].flatMap { v -> String? in
                            if case .number(let text) = v { return text } else { return nil }
                        } ?? "-"
                    let age = l?["oldest_lacked_age_seconds"]?.integerValue.map { Format.age(seconds: $0) } ?? "-"
                    return [
                        p["address"]?.stringValue ?? p["key"]?.stringValue ?? "?", "\(l?["version"]?.integerValue ?? 1)",
                        l?["compression"]?.stringValue ?? "none", "\(bytes("raw_bytes_sent")) / \(bytes("wire_bytes_sent"))",
                        "\(bytes("raw_bytes_received")) / \(bytes("wire_bytes_received"))", ratio, bytes("message_bytes"),
                        "\(bytes("bytes_per_second"))/s", "\(l?["cuts_mid_message"]?.integerValue ?? 0)", bytes("bytes_lost_to_cuts"), age,
                    ]
                }
            for line in Format.table(linkRows) { print("  " + line) }
            for p in peers where p["connected"]?.boolValue != true {
                if let e = p["last_error"]?.stringValue { print("  \(p["address"]?.stringValue ?? p["key"]?.stringValue ?? "?"): \(e)") }
            }
        }
    }
}

enum Format {
    /// Left-aligned columns, two spaces apart.
    static func table(_ rows: [[String]]) -> [String] {
        guard let first = rows.first else { return [] }
        let widths = (0..<first.count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            String(
                row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                    .reversed().drop(while: { $0 == " " }).reversed())
        }
    }

    /// 45 s, 12 min, 3 h 05 min, 2 d 4 h.
    static func age(seconds s: Int64) -> String {
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min" }
        if s < 86400 { return String(format: "%d h %02d min", s / 3600, (s % 3600) / 60) }
        return "\(s / 86400) d \((s % 86400) / 3600) h"
    }

    static func bytes(_ n: Int64) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1 << 20 { return String(format: "%.1f KiB", Double(n) / 1024) }
        if n < 1 << 30 { return String(format: "%.1f MiB", Double(n) / 1_048_576) }
        return String(format: "%.2f GiB", Double(n) / 1_073_741_824)
    }
}

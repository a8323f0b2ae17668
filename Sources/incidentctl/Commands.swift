import ArgumentParser
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
            """)

    @OptionGroup var options: NodeOptions
    @Option(help: "Event type, e.g. incident.reported.") var type: String
    @Option(help: "Sector where it happened: north, east, west, centre, bamako.") var sector: String
    @Option(help: "The payload as JSON.") var data: String?
    @Option(help: "A file holding the payload JSON.") var file: String?

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
            return try await connection.receive()
        }
        _ = try IncidentConnection.decode(line)
        // Print the stored bytes exactly: cut the envelope {"ok":true,"event": … } around them.
        let prefix = Array("{\"ok\":true,\"event\":".utf8)
        print(String(decoding: line[prefix.count..<(line.count - 1)], as: UTF8.self))
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write the stored event lines, exactly, to stdout.")
    @OptionGroup var options: NodeOptions
    @Option(help: "First local offset to export.") var from: UInt64 = 0

    func run() async throws {
        try await IncidentConnection.withConnection(to: try options.address()) { connection in
            var next = from
            var out: [UInt8] = []
            while true {
                let (lines, after) = try RawEvents.split(
                    readResponse: try await connectionRequestRaw(connection, Requests.read(from: next, limit: 2000)))
                if lines.isEmpty { break }
                out.removeAll(keepingCapacity: true)
                for line in lines {
                    out.append(contentsOf: line)
                    out.append(UInt8(ascii: "\n"))
                }
                try FileHandle.standardOutput.write(contentsOf: out)
                next = after
            }
        }
    }
}

func connectionRequestRaw(_ c: IncidentConnection, _ line: [UInt8]) async throws -> [UInt8] {
    try await c.send(line)
    return try await c.receive()
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
        print("vector")
        let width = vector.origins.map(\.count).max() ?? 0
        for origin in vector.origins {
            print("  \(origin.padding(toLength: width, withPad: " ", startingAt: 0))  \(vector[origin])")
        }
    }
}

enum Format {
    static func bytes(_ n: Int64) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1 << 20 { return String(format: "%.1f KiB", Double(n) / 1024) }
        if n < 1 << 30 { return String(format: "%.1f MiB", Double(n) / 1_048_576) }
        return String(format: "%.2f GiB", Double(n) / 1_073_741_824)
    }
}

import Exports
import IncidentModel
import Testing

/// The three formats read back as what they claim to be: RFC 4180 CSV (with the HXL hashtag row
/// for hxl) and an RFC 7946 FeatureCollection, each holding the rows' values exactly.
@Suite struct ExportFormatTests {
    static let none = #"{"killed":0,"missing":0,"wounded":0}"#
    /// Two rows as the `incidents` view writes them: one disputed with every field, one with the
    /// fewest (no coordinates, no casualty report), whose text needs quoting and defusing.
    static let rows: [JSONValue] = [
        """
        {"actors":["unidentified armed group","JNIM"],
         "casualties":{"disputed":true,"figure":{"armed_groups":\(none),"civilians":{"killed":0,"missing":0,"wounded":1},
                       "national_forces":\(none),"other":\(none),"peacekeepers":{"killed":1,"missing":0,"wounded":3}},
                       "high":{"killed":1,"missing":0,"wounded":4},"low":{"killed":1,"missing":0,"wounded":3},"reports":2},
         "category":"ied","confidence":"high","incident_id":"8d0f1c2e-0001-4aaa-8bbb-000000000001",
         "location":{"admin1":"Gao","lat":15.930,"lon":-0.04,"name":"Gao road, km 12","precision":"near"},
         "occurred_at":"2026-11-28T06:00:00Z","reported_at":"2026-11-29T08:00:00.000Z","reported_by":"gao:1","sector":"east",
         "source":"convoy escort","status":"open","summary":"IED on the \\"RN16\\", Gao–Ansongo","time_precision":"minute",
         "updated_at":"2026-11-29T09:45:00.000Z","verification":"verified"}
        """,
        """
        {"actors":null,"casualties":null,"category":"protest","confidence":null,"incident_id":"=HYPERLINK(1)",
         "location":{"name":"-Bamako\\nHQ gate"},"occurred_at":"2026-11-30T10:00:00Z","reported_at":"2026-11-30T10:30:00.000Z",
         "reported_by":"bamako-hq:3","sector":"bamako","source":null,"status":"retracted","summary":"@gate","time_precision":null,
         "updated_at":"2026-11-30T10:30:00.000Z","verification":"unverified"}
        """,
    ].map { try! JSONParser.parse(Array($0.utf8)) }

    @Test func csvHasOneHeaderLineAndAFieldPerColumnWithTheValuesAsWritten() throws {
        let bytes = IncidentExporter.export(Self.rows, format: .csv)
        #expect(bytes.suffix(2) == [0x0D, 0x0A])
        let table = try CSV.parse(bytes)
        #expect(table.count == 3)
        #expect(table[0] == ExportColumn.all.map(\.name))
        for line in table { #expect(line.count == ExportColumn.all.count) }
        let first = record(table[0], table[1])
        #expect(first["summary"] == #"IED on the "RN16", Gao–Ansongo"#)
        #expect(first["location"] == "Gao road, km 12")
        #expect(first["admin1"] == "Gao")
        #expect(first["lat"] == "15.930")
        #expect(first["lon"] == "-0.04")
        #expect(first["killed"] == "1")
        #expect(first["wounded"] == "4")
        #expect(first["wounded_low"] == "3")
        #expect(first["wounded_high"] == "4")
        #expect(first["peacekeepers_wounded"] == "3")
        #expect(first["civilians_wounded"] == "1")
        #expect(first["casualties_disputed"] == "true")
        #expect(first["casualty_reports"] == "2")
        #expect(first["actors"] == "unidentified armed group; JNIM")
        #expect(first["occurred_at"] == "2026-11-28T06:00:00Z")
        let second = record(table[0], table[2])
        // Unknown is empty, not zero; text a spreadsheet would run is defused, with its newline kept.
        #expect(second["killed"] == "")
        #expect(second["casualties_disputed"] == "")
        #expect(second["lat"] == "")
        #expect(second["incident_id"] == "'=HYPERLINK(1)")
        #expect(second["location"] == "'-Bamako\nHQ gate")
        #expect(second["summary"] == "'@gate")
        #expect(second["status"] == "retracted")
    }

    @Test func hxlAddsAHashtagRowThatHXLToolsAccept() throws {
        let table = try CSV.parse(IncidentExporter.export(Self.rows, format: .hxl))
        #expect(table.count == 4)
        #expect(table[0] == ExportColumn.all.map(\.name))
        let tags = table[1]
        // HXL 1.1: a hashtag, then attributes, lower case letters, digits and underscores.
        for tag in tags { #expect(Self.isHXLTag(tag), "\(tag)") }
        let byName = Dictionary(uniqueKeysWithValues: zip(table[0], tags))
        #expect(byName["occurred_at"] == "#date +occurred")
        #expect(byName["admin1"] == "#adm1 +name")
        #expect(byName["lat"] == "#geo +lat")
        #expect(byName["lon"] == "#geo +lon")
        #expect(byName["killed"] == "#affected +killed")
        #expect(byName["killed_low"] == "#affected +killed +low")
        #expect(byName["wounded"] == "#affected +injured")
        #expect(Set(tags).count == tags.count, "two columns with one hashtag could not be told apart")
        #expect(record(table[0], table[2])["killed_high"] == "1")
    }

    @Test func geojsonIsAFeatureCollectionOfPointsOrNullGeometries() throws {
        let json = try JSONParser.parse(IncidentExporter.export(Self.rows, format: .geojson))
        #expect(json["type"]?.stringValue == "FeatureCollection")
        let features = try #require(json["features"]?.arrayValue)
        #expect(features.count == 2)
        for f in features {
            #expect(f["type"]?.stringValue == "Feature")
            let names = try #require(f["properties"]?.objectMembers).map(\.key)
            #expect(names == ExportColumn.all.map(\.name))
            #expect(f["id"] == f["properties"]?["incident_id"])
        }
        let point = try #require(features[0]["geometry"])
        #expect(point["type"]?.stringValue == "Point")
        #expect(point["coordinates"] == .array([.number("-0.04"), .number("15.930")]), "RFC 7946: longitude first")
        #expect(features[1]["geometry"] == .null)
        let p = features[0]["properties"]
        #expect(p?["killed"] == .number("1"))
        #expect(p?["casualties_disputed"] == .bool(true))
        #expect(p?["actors"] == .array([.string("unidentified armed group"), .string("JNIM")]))
        #expect(p?["summary"] == .string(#"IED on the "RN16", Gao–Ansongo"#))
        // No defusing in JSON: the value is data, not a spreadsheet cell.
        #expect(features[1]["properties"]?["incident_id"] == .string("=HYPERLINK(1)"))
        #expect(features[1]["properties"]?["killed"] == .null)
    }

    @Test func anEmptyExportIsStillWellFormed() throws {
        #expect(try CSV.parse(IncidentExporter.export([], format: .csv)).count == 1)
        #expect(try CSV.parse(IncidentExporter.export([], format: .hxl)).count == 2)
        let json = try JSONParser.parse(IncidentExporter.export([], format: .geojson))
        #expect(json["features"] == .array([]))
    }

    @Test func pagesWrittenOneByOneEqualTheWholeExport() {
        for format in ExportFormat.allCases {
            var exporter = IncidentExporter(format: format)
            let paged = exporter.begin() + exporter.append([Self.rows[0]]) + exporter.append([]) + exporter.append([Self.rows[1]]) + exporter.end()
            #expect(paged == IncidentExporter.export(Self.rows, format: format), "\(format)")
            #expect(exporter.count == 2)
        }
    }

    static func isHXLTag(_ s: String) -> Bool {
        let parts = s.split(separator: " ", omittingEmptySubsequences: true)
        func word(_ w: Substring) -> Bool {
            guard let first = w.first, first.isASCII, first.isLowercase else { return false }
            return w.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }
        }
        guard let tag = parts.first, tag.first == "#", word(tag.dropFirst()) else { return false }
        return parts.dropFirst().allSatisfy { $0.first == "+" && word($0.dropFirst()) }
    }

    func record(_ header: [String], _ line: [String]) -> [String: String] {
        Dictionary(uniqueKeysWithValues: zip(header, line))
    }
}

/// An RFC 4180 reader written apart from the exporter, strict where the RFC is: CRLF record ends,
/// quotes only around a whole field, doubled inside it.
enum CSV {
    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    static func parse(_ bytes: [UInt8]) throws -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field: [UInt8] = []
        var i = 0
        var quoted = false
        func endField() {
            record.append(String(decoding: field, as: UTF8.self))
            field = []
        }
        while i < bytes.count {
            let b = bytes[i]
            if quoted {
                if b == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") {
                        field.append(b)
                        i += 2
                        continue
                    }
                    quoted = false
                    i += 1
                    guard i == bytes.count || [UInt8(ascii: ","), 0x0D].contains(bytes[i]) else {
                        throw Malformed(description: "text after a closing quote at byte \(i)")
                    }
                    continue
                }
                field.append(b)
                i += 1
                continue
            }
            switch b {
            case UInt8(ascii: "\""):
                guard field.isEmpty else { throw Malformed(description: "quote inside an unquoted field at byte \(i)") }
                quoted = true
            case UInt8(ascii: ","):
                endField()
            case 0x0D:
                guard i + 1 < bytes.count, bytes[i + 1] == 0x0A else { throw Malformed(description: "CR without LF at byte \(i)") }
                endField()
                records.append(record)
                record = []
                i += 1
            case 0x0A:
                throw Malformed(description: "bare LF at byte \(i)")
            default:
                field.append(b)
            }
            i += 1
        }
        guard !quoted else { throw Malformed(description: "unterminated quote") }
        guard field.isEmpty, record.isEmpty else { throw Malformed(description: "last record without CRLF") }
        return records
    }
}

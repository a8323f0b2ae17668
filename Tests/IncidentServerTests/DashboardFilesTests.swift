import Foundation
import IncidentBench
import IncidentClient
import IncidentModel
import Testing

/// The dashboard's own files (Sources/IncidentHTTP/Dashboard): the page asks for nothing outside
/// the node, its sites are the mission's, and its outline of Mali holds them.
@Suite struct DashboardFilesTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources/IncidentHTTP/Dashboard")

    static func text(_ name: String) throws -> String {
        String(decoding: try Data(contentsOf: folder.appendingPathComponent(name)), as: UTF8.self)
    }

    static func json(_ name: String) throws -> JSONValue { try JSONParser.parse(Array(try text(name).utf8)) }

    /// Every URL the page and its script name is the node's own (/assets/, /vendor/, /api/v1/) or
    /// data:, and every asset named is in the folder: nothing for a browser to fetch from outside.
    @Test func thePageNamesOnlyTheNodesOwnURLs() throws {
        let html = try Self.text("index.html")
        let script = try Self.text("app.js")
        for source in [html, script, try Self.text("style.css")] {
            #expect(!source.contains("http://") && !source.contains("https://") && !source.contains("//cdn"))
            #expect(!source.contains("@import"))
        }
        let attributes = try NSRegularExpression(pattern: #"(?:src|href)="([^"]*)""#)
        let named = attributes.matches(in: html, range: NSRange(html.startIndex..., in: html)).map {
            String(html[Range($0.range(at: 1), in: html)!])
        }
        #expect(named.count >= 5)
        for url in named {
            #expect(url.hasPrefix("/assets/") || url.hasPrefix("/vendor/leaflet/") || url.hasPrefix("/vendor/chart.js/") || url.hasPrefix("data:"), "\(url)")
            if url.hasPrefix("/assets/") {
                #expect(FileManager.default.fileExists(atPath: Self.folder.appendingPathComponent(String(url.dropFirst(8))).path), "\(url)")
            }
        }
        for asset in ["/assets/mali.geojson", "/assets/sites.json"] { #expect(script.contains("'\(asset)'")) }
    }

    /// sites.json is the mission's sites list, as the event generator has it.
    @Test func theSitesAreTheMissionsSites() throws {
        let sites = try #require(try Self.json("sites.json").arrayValue)
        #expect(sites.count == EventGenerator.sites.count)
        for (shown, site) in zip(sites, EventGenerator.sites) {
            #expect(shown["name"]?.stringValue == site.name)
            #expect(shown["sector"]?.stringValue == site.sector)
            #expect(shown["region"]?.stringValue == site.region)
            #expect(shown["lat"]?.doubleValue == site.lat)
            #expect(shown["lon"]?.doubleValue == site.lon)
        }
    }

    /// The outline marked as the mission's is Mali: every site lies inside it, none inside a neighbour.
    @Test func theOutlineOfMaliHoldsEverySite() throws {
        let outline = try Self.json("mali.geojson")
        #expect(outline["type"]?.stringValue == "FeatureCollection")
        #expect(outline["source"]?.stringValue?.contains("Natural Earth") == true)
        let features = try #require(outline["features"]?.arrayValue)
        func polygons(_ f: JSONValue) -> [[(Double, Double)]] {
            (f["geometry"]?["coordinates"]?.arrayValue ?? []).compactMap { $0.arrayValue?.first?.arrayValue }.map { ring in
                ring.compactMap { p in p.arrayValue.flatMap { c in c.count == 2 ? (c[0].doubleValue ?? .nan, c[1].doubleValue ?? .nan) : nil } }
            }
        }
        func inside(_ lon: Double, _ lat: Double, _ ring: [(Double, Double)]) -> Bool {
            var odd = false
            var j = ring.count - 1
            for i in ring.indices {
                let (xi, yi) = ring[i]
                let (xj, yj) = ring[j]
                if (yi > lat) != (yj > lat), lon < (xj - xi) * (lat - yi) / (yj - yi) + xi { odd.toggle() }
                j = i
            }
            return odd
        }
        let mali = features.filter { $0["properties"]?["role"]?.stringValue == "mission" }
        #expect(mali.count == 1)
        #expect(mali.first?["properties"]?["iso_a3"]?.stringValue == "MLI")
        let neighbours = features.filter { $0["properties"]?["role"]?.stringValue == "neighbour" }
        #expect(neighbours.count >= 5)
        for site in EventGenerator.sites {
            #expect(polygons(mali[0]).contains { inside(site.lon, site.lat, $0) }, "\(site.name) outside Mali")
            for n in neighbours { #expect(!polygons(n).contains { inside(site.lon, site.lat, $0) }, "\(site.name) inside \(n["properties"]?["name"]?.stringValue ?? "?")") }
        }
    }
}

import IncidentModel
import Projections
import Testing

/// Type names and ids as the fold reads them: every catalogue type is recognised, names that
/// only look like one are ignored, and ids come back exactly as written.
@Suite struct FoldCodesTests {
    static let near = ["incident.reportes", "incident.Reported", "incident.reported ", "casualties_reported",
                       "medevac.requestez", "intel.sightinG", "election.material.dispatchedx", ""]

    @Test func namesThatOnlyLookLikeCatalogueTypesAreIgnored() throws {
        var log = EventLog()
        let report = #"{"incident_id":"i1","category":"ied","summary":"s","occurred_at":"2026-11-29T07:00:00Z","location":{"name":"Gao"}}"#
        for (n, name) in Self.near.enumerated() {
            log.add("gao", name, sector: "east", millis: 1_795_940_000_000 + Int64(n), report)
        }
        var state = log.folded()
        #expect(int(state.overview(), "mission", "incidents", "total") == 0)
        #expect(state.eventCount == UInt64(Self.near.count))
        log.add("gao", "incident.reported", sector: "east", at: "2026-11-29T08:00:00Z", report)
        state = log.folded()
        #expect(int(state.overview(), "mission", "incidents", "total") == 1)
    }

    @Test func everyCatalogueTypeIsFolded() throws {
        // The golden set holds every type; each leaves a trace in the overview or an incident.
        let log = GoldenLog.make()
        let types = Set(log.events.map(\.type))
        #expect(types.isSuperset(of: EventType.allCases.map(\.rawValue)))
        let overview = GoldenLog.make().folded().overview()
        #expect(int(overview, "mission", "medevac", "completed") == 1)
        #expect(int(overview, "mission", "election", "consignments", "delivered") == 1)
        #expect(int(overview, "mission", "election", "personnel_moved", "people") == 20)
        #expect(int(overview, "mission", "polling_stations", "total") == 3)
        #expect(int(overview, "mission", "intel", "total") == 4)
    }

    @Test func idsComeBackExactlyAsWritten() throws {
        var log = EventLog()
        let ids = ["8d0f1c2e-0001-4aaa-8bbb-00000000000f", "8D0F1C2E-0001-4AAA-8BBB-00000000000F",
                   "8d0f1c2e00014aaa8bbb00000000000f0000", "8d0f1c2e-0001-4aaa-8bbb-00000000000g", "kidal/2026/17",
                   "quote\"and\\backslash", "é-accent"]
        for (n, id) in ids.enumerated() {
            var w = JSONWriter()
            w.string(id)
            let data = #"{"incident_id":\#(String(decoding: w.bytes, as: UTF8.self)),"category":"ied","summary":"s","occurred_at":"2026-11-29T07:00:00Z","location":{"name":"Gao"}}"#
            log.add("gao", "incident.reported", sector: "east", millis: 1_795_940_000_000 + Int64(n), data)
        }
        let state = log.folded()
        for id in ids {
            let view = try #require(state.incidentView(id: id, lookup: log.lookup), "\(id)")
            #expect(value(view, "incident_id") == .string(id))
        }
        let listed = try #require(value(try state.incidents(IncidentQuery(), lookup: log.lookup), "incidents")?.arrayValue)
        #expect(Set(listed.compactMap { $0["incident_id"]?.stringValue }) == Set(ids))
    }
}

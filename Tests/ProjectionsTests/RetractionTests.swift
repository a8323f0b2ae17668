import IncidentModel
import Projections
import Testing

/// A retracted incident counts nowhere but stays listed, with its history.
@Suite struct RetractionTests {
    static let kept = "inc-kept"
    static let dropped = "inc-dropped"

    static func log(retract: Bool) -> EventLog {
        var log = EventLog()
        for (id, time, later) in [
            (kept, "2026-11-29T08:00:00Z", "2026-11-29T08:01:00Z"),
            (dropped, "2026-11-29T08:05:00Z", "2026-11-29T08:06:00Z"),
        ] {
            log.add(
                "kidal", "incident.reported", sector: "north", at: time,
                """
                {"incident_id":"\(id)","category":"ied","summary":"IED","occurred_at":"2026-11-29T07:00:00Z",
                 "location":{"name":"Tessalit"}}
                """)
            log.add(
                "gao", "casualties.reported", sector: "north", at: later,
                """
                {"incident_id":"\(id)","peacekeepers":{"killed":1},"national_forces":{},"civilians":{"wounded":2}}
                """)
        }
        if retract {
            log.add(
                "bamako-hq", "incident.retracted", sector: "north", at: "2026-11-29T09:00:00Z",
                #"{"incident_id":"\#(dropped)","reason":"duplicate","duplicate_of":"\#(kept)"}"#)
        }
        return log
    }

    @Test func retractedIncidentCountsInNoCategoryAndNoCasualtyTotal() throws {
        let before = try #require(Self.log(retract: false).folded().sectorView("north"))
        #expect(int(before, "incidents", "by_category", "ied", "total") == 2)
        #expect(int(before, "incidents", "open") == 2)
        #expect(int(before, "casualties", "total", "killed") == 2)

        let state = Self.log(retract: true).folded()
        let after = try #require(state.sectorView("north"))
        #expect(int(after, "incidents", "by_category", "ied", "total") == 1)
        #expect(int(after, "incidents", "by_category", "ied", "open") == 1)
        #expect(int(after, "incidents", "total") == 1)
        #expect(int(after, "casualties", "total", "killed") == 1)
        #expect(int(after, "casualties", "total", "wounded") == 2)
        #expect(int(state.overview(), "mission", "incidents", "total") == 1)
    }

    @Test func retractedIncidentIsStillListedWithItsHistory() throws {
        let log = Self.log(retract: true)
        let state = log.folded()
        let all = try state.incidents(IncidentQuery(), lookup: log.lookup)
        #expect(int(all, "total") == 2)
        let retracted = try state.incidents(IncidentQuery(status: "retracted"), lookup: log.lookup)
        #expect(value(retracted, "incidents", "0", "incident_id") == .string(Self.dropped))
        #expect(value(retracted, "incidents", "0", "status") == .string("retracted"))
        let open = try state.incidents(IncidentQuery(status: "open"), lookup: log.lookup)
        #expect(int(open, "total") == 1)

        let view = try #require(state.incidentView(id: Self.dropped, lookup: log.lookup))
        #expect(value(view, "retracted") == .bool(true))
        #expect(value(view, "counted") == .bool(false))
        let history = try #require(value(view, "history")?.arrayValue)
        #expect(history.map { $0["type"]?.stringValue } == ["incident.reported", "casualties.reported", "incident.retracted"])
        #expect(value(view, "retractions", "0", "reason") == .string("duplicate"))
        #expect(value(view, "retractions", "0", "duplicate_of") == .string(Self.kept))
        #expect(value(view, "retractions", "0", "event") == .string("bamako-hq:1"))
        // Its fields are still there to read.
        #expect(value(view, "fields", "category", "value") == .string("ied"))
    }

    /// The view lists each retraction with the members its event wrote: `duplicate_of` only
    /// when there is one, and an event that cannot be read back shows its id with a null reason.
    @Test func retractionsShowWhatTheirEventsWrote() throws {
        var log = Self.log(retract: true)
        log.add(
            "gao", "incident.retracted", sector: "north", at: "2026-11-29T09:30:00Z",
            #"{"incident_id":"\#(Self.dropped)","reason":"entered_in_error"}"#)
        let state = log.folded()
        let view = try #require(state.incidentView(id: Self.dropped, lookup: log.lookup))
        let retractions = String(decoding: Array(view[try #require(view.firstRange(of: Array(#""retractions":"#.utf8))).upperBound...]), as: UTF8.self)
        #expect(
            retractions.hasPrefix(
                #"[{"duplicate_of":"\#(Self.kept)","event":"bamako-hq:1","reason":"duplicate"},{"event":"gao:3","reason":"entered_in_error"}],"#))
        #expect(try JSONParser.parse(view)["retractions"]?.arrayValue?.count == 2)

        let unreadable = try #require(state.incidentView(id: Self.dropped, lookup: { _ in nil }))
        #expect(value(unreadable, "retractions", "0") == .object([("event", .string("bamako-hq:1")), ("reason", .null)]))
        #expect(value(unreadable, "fields", "category", "value") == .null)
    }

    @Test func laterEventsCannotBringARetractedIncidentBack() throws {
        var log = Self.log(retract: true)
        log.add(
            "kidal", "incident.updated", sector: "north", at: "2026-11-29T10:00:00Z",
            #"{"incident_id":"\#(Self.dropped)","changes":{"status":"open","category":"ambush"}}"#)
        let sector = try #require(log.folded().sectorView("north"))
        #expect(int(sector, "incidents", "total") == 1)
        #expect(int(sector, "incidents", "by_category", "ambush", "total") == 0)
    }
}

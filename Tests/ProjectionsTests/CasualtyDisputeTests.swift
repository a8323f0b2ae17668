import IncidentModel
import Projections
import Testing

/// Casualty reports are absolute snapshots per origin: the latest report of each origin stands,
/// the incident's figure is the latest overall, and differing standing reports are disputed.
@Suite struct CasualtyDisputeTests {
    static let id = "c0ffee00-0000-4000-8000-000000000001"

    static func report(_ log: inout EventLog, _ origin: String, at time: String, killed: Int, wounded: Int) {
        log.add(origin, "casualties.reported", sector: "east", at: time, """
            {"incident_id":"\(id)","peacekeepers":{"killed":\(killed),"wounded":\(wounded)},
             "national_forces":{},"civilians":{}}
            """)
    }

    static func incident(_ log: inout EventLog) {
        log.add("gao", "incident.reported", sector: "east", at: "2026-11-29T08:00:00Z", """
            {"incident_id":"\(id)","category":"ambush","summary":"Convoy ambushed","occurred_at":"2026-11-29T07:00:00Z",
             "location":{"name":"Ansongo"}}
            """)
    }

    @Test func differingLatestReportsOfTwoOriginsAreDisputedAndBothShown() throws {
        var log = EventLog()
        Self.incident(&log)
        Self.report(&log, "gao", at: "2026-11-29T09:00:00Z", killed: 2, wounded: 1)
        Self.report(&log, "bamako-hq", at: "2026-11-29T10:00:00Z", killed: 3, wounded: 1)
        let state = log.folded()

        let view = try #require(state.incidentView(id: Self.id, lookup: log.lookup))
        #expect(value(view, "casualties", "disputed") == .bool(true))
        let reports = try #require(value(view, "casualties", "reports")?.arrayValue)
        #expect(reports.map { $0["origin"]?.stringValue } == ["bamako-hq", "gao"])
        #expect(reports.map { $0["counts"]?["peacekeepers"]?["killed"]?.integerValue } == [3, 2])
        // The figure is the latest report overall: HQ's at 10:00.
        #expect(value(view, "casualties", "figure", "event") == .string("bamako-hq:1"))

        let sector = try #require(state.sectorView("east"))
        #expect(int(sector, "casualties", "total", "killed") == 3)
        let disputed = try #require(value(sector, "casualties", "disputed")?.arrayValue)
        #expect(disputed.count == 1)
        #expect(disputed.first?["incident_id"] == .string(Self.id))
        #expect(disputed.first?["reports"]?.arrayValue?.count == 2)
    }

    @Test func equalReportsOfTwoOriginsAreNotDisputed() throws {
        var log = EventLog()
        Self.incident(&log)
        Self.report(&log, "gao", at: "2026-11-29T09:00:00Z", killed: 2, wounded: 1)
        Self.report(&log, "bamako-hq", at: "2026-11-29T10:00:00Z", killed: 2, wounded: 1)
        let state = log.folded()
        let view = try #require(state.incidentView(id: Self.id, lookup: log.lookup))
        #expect(value(view, "casualties", "disputed") == .bool(false))
        #expect(value(view, "casualties", "reports")?.arrayValue?.count == 2)
        let sector = try #require(state.sectorView("east"))
        #expect(value(sector, "casualties", "disputed") == .array([]))
        // Two offices reporting the same figure is one figure, not twice the dead.
        #expect(int(sector, "casualties", "total", "killed") == 2)
        #expect(int(sector, "casualties", "total", "wounded") == 1)
    }

    @Test func aLaterReportOfAnOriginSupersedesItsEarlierOne() throws {
        var log = EventLog()
        Self.incident(&log)
        Self.report(&log, "gao", at: "2026-11-29T09:00:00Z", killed: 1, wounded: 0)
        Self.report(&log, "bamako-hq", at: "2026-11-29T10:00:00Z", killed: 4, wounded: 2)
        let before = log.folded()
        #expect(value(before.sectorView("east")!, "casualties", "disputed")?.arrayValue?.count == 1)

        // Gao revises: its new report stands in for its old one, not beside it.
        Self.report(&log, "gao", at: "2026-11-29T11:00:00Z", killed: 4, wounded: 2)
        let state = log.folded()
        let view = try #require(state.incidentView(id: Self.id, lookup: log.lookup))
        #expect(value(view, "casualties", "disputed") == .bool(false))
        let reports = try #require(value(view, "casualties", "reports")?.arrayValue)
        #expect(reports.map { $0["event"]?.stringValue } == ["bamako-hq:1", "gao:3"])
        #expect(value(view, "casualties", "figure", "event") == .string("gao:3"))
        let sector = try #require(state.sectorView("east"))
        #expect(int(sector, "casualties", "total", "killed") == 4)
        #expect(value(sector, "casualties", "disputed") == .array([]))
        // The superseded report stays in the history.
        #expect(value(view, "history")?.arrayValue?.count == 4)
    }

    @Test func aLowerFigureLaterReplacesTheFigureItDoesNotAddToIt() throws {
        var log = EventLog()
        Self.incident(&log)
        Self.report(&log, "gao", at: "2026-11-29T09:00:00Z", killed: 5, wounded: 5)
        Self.report(&log, "gao", at: "2026-11-29T12:00:00Z", killed: 1, wounded: 0)
        let sector = try #require(log.folded().sectorView("east"))
        #expect(int(sector, "casualties", "total", "killed") == 1)
        #expect(int(sector, "casualties", "total", "wounded") == 0)
    }

    @Test func casualtiesReportedBeforeTheIncidentCountOnceItIsReported() throws {
        var log = EventLog()
        Self.report(&log, "bamako-hq", at: "2026-11-29T06:00:00Z", killed: 2, wounded: 3)
        var early = ProjectionState()
        early.apply(contentsOf: log.events)
        // Nothing to count yet: no sector, no occurred_at, not listed.
        #expect(int(early.overview(), "mission", "casualties", "total", "killed") == 0)
        #expect(int(try early.incidents(IncidentQuery(), lookup: log.lookup), "total") == 0)
        let pending = try #require(early.incidentView(id: Self.id, lookup: log.lookup))
        #expect(value(pending, "counted") == .bool(false))
        #expect(value(pending, "reported_by") == .null)

        Self.incident(&log)
        early.apply(log.events.last!)
        #expect(int(early.sectorView("east")!, "casualties", "total", "killed") == 2)
        #expect(early.overview() == log.folded().overview())
    }

    @Test func sectorViewsListTheNewestDisputesAndCountThemAll() throws {
        var log = EventLog()
        for n in 0..<25 {
            let id = "dispute-\(n)"
            let day = String(n + 1).leftPadded(2)
            log.add("gao", "incident.reported", sector: "east", at: "2026-11-\(day)T08:00:00Z", """
                {"incident_id":"\(id)","category":"ied","summary":"s","occurred_at":"2026-11-\(day)T07:00:00Z","location":{"name":"Gao"}}
                """)
            for (origin, killed) in [("gao", 1), ("kidal", 2)] {
                log.add(origin, "casualties.reported", sector: "east", at: "2026-11-\(day)T09:00:00Z",
                        #"{"incident_id":"\#(id)","peacekeepers":{"killed":\#(killed)},"national_forces":{},"civilians":{}}"#)
            }
        }
        let sector = try #require(log.folded().sectorView("east"))
        #expect(int(sector, "casualties", "disputed_count") == 25)
        let listed = try #require(value(sector, "casualties", "disputed")?.arrayValue)
        #expect(listed.count == ProjectionState.disputedListLimit)
        #expect(listed.first?["incident_id"] == .string("dispute-24"))
        #expect(listed.last?["incident_id"] == .string("dispute-5"))
    }
}

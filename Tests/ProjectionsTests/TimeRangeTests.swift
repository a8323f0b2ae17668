import IncidentModel
import Projections
import Testing

/// since/until from the day buckets: incidents and their casualties by occurred_at, the other
/// types by recorded_at, whole UTC days, both ends inclusive.
@Suite struct TimeRangeTests {
    /// Incident A happened late on the 28th, was reported on the 29th and its casualties on the
    /// 30th; everything else sits on the day it was recorded.
    static func log() -> EventLog {
        var log = EventLog()
        log.add("gao", "incident.reported", sector: "east", at: "2026-11-29T01:00:00Z", """
            {"incident_id":"A","category":"ied","summary":"late night IED","occurred_at":"2026-11-28T23:30:00Z",
             "location":{"name":"Gao"}}
            """)
        log.add("gao", "incident.reported", sector: "east", at: "2026-11-29T13:00:00Z", """
            {"incident_id":"B","category":"ambush","summary":"ambush","occurred_at":"2026-11-29T12:00:00Z",
             "location":{"name":"Gao"}}
            """)
        log.add("gao", "casualties.reported", sector: "east", at: "2026-11-30T09:00:00Z", """
            {"incident_id":"A","peacekeepers":{"killed":2},"national_forces":{},"civilians":{}}
            """)
        log.add("gao", "medevac.requested", sector: "east", at: "2026-11-28T23:50:00Z", """
            {"medevac_id":"M","incident_id":"A","priority":"urgent","patients":1,"pickup":{"name":"Gao"}}
            """)
        log.add("gao", "medevac.dispatched", sector: "east", at: "2026-11-29T00:20:00Z", #"{"medevac_id":"M","asset":"heli"}"#)
        log.add("gao", "election.material.dispatched", sector: "east", at: "2026-11-29T10:00:00Z",
                #"{"consignment_id":"C","items":{"ballot_papers":100},"to":{"name":"Menaka"}}"#)
        log.add("gao", "election.material.delivered", sector: "east", at: "2026-11-30T10:00:00Z",
                #"{"consignment_id":"C","seals_intact":true}"#)
        log.add("gao", "election.personnel.moved", sector: "east", at: "2026-11-29T23:59:59.999Z", #"{"count":5,"to":{"name":"Gao"}}"#)
        log.add("gao", "election.personnel.moved", sector: "east", at: "2026-11-30T00:00:00Z", #"{"count":7,"to":{"name":"Gao"}}"#)
        log.add("gao", "intel.sighting", sector: "east", at: "2026-11-30T11:00:00Z",
                #"{"sighting_id":"S","kind":"possible_ied","source":"uav","location":{"name":"Gao"}}"#)
        log.add("gao", "polling_station.status", sector: "east", at: "2026-11-30T12:00:00Z",
                #"{"station_id":"P","name":"P","status":"open"}"#)
        log.add("gao", "polling_station.status", sector: "east", at: "2026-12-01T08:00:00Z",
                #"{"station_id":"P","name":"P","status":"closed"}"#)
        return log
    }

    static func east(_ state: ProjectionState, _ since: String?, _ until: String?) throws -> [UInt8] {
        try #require(state.sectorView("east", range: try DayRange(since: since, until: until)))
    }

    @Test func incidentsAndTheirCasualtiesCountOnTheDayTheyOccurred() throws {
        let state = Self.log().folded()
        let day28 = try Self.east(state, "2026-11-28", "2026-11-28")
        #expect(int(day28, "incidents", "by_category", "ied", "total") == 1)
        #expect(int(day28, "incidents", "total") == 1)
        // Reported on the 30th, but they belong to an incident of the 28th.
        #expect(int(day28, "casualties", "total", "killed") == 2)

        let day29to30 = try Self.east(state, "2026-11-29", "2026-11-30")
        #expect(int(day29to30, "incidents", "total") == 1)
        #expect(int(day29to30, "incidents", "by_category", "ambush", "total") == 1)
        #expect(int(day29to30, "casualties", "total", "killed") == 0)
        #expect(value(day29to30, "range") == canonicalValue(#"{"since":"2026-11-29","until":"2026-11-30"}"#))
    }

    @Test func otherTypesCountOnTheDayTheyWereRecorded() throws {
        let state = Self.log().folded()
        let day28 = try Self.east(state, "2026-11-28", "2026-11-28")
        // The medevac counts whole on its request's day, dispatch (next day) included.
        #expect(int(day28, "medevac", "requested") == 1)
        #expect(int(day28, "medevac", "dispatched") == 1)
        #expect(value(day28, "medevac", "request_to_dispatch_minutes", "median") == .number("30.0"))
        #expect(int(day28, "election", "personnel_moved", "people") == 0)

        let day29 = try Self.east(state, "2026-11-29", "2026-11-29")
        #expect(int(day29, "medevac", "requested") == 0)
        #expect(int(day29, "medevac", "dispatched") == 0)
        #expect(int(day29, "election", "consignments", "dispatched") == 1)
        #expect(int(day29, "election", "consignments", "delivered") == 1)
        #expect(int(day29, "election", "items_dispatched", "ballot_papers") == 100)
        // 23:59:59.999 is still the 29th; midnight is the 30th.
        #expect(int(day29, "election", "personnel_moved", "people") == 5)
        #expect(int(day29, "intel", "total") == 0)

        let day30 = try Self.east(state, "2026-11-30", "2026-11-30")
        #expect(int(day30, "election", "consignments", "dispatched") == 0)
        #expect(int(day30, "election", "personnel_moved", "people") == 7)
        #expect(int(day30, "intel", "sightings", "possible_ied") == 1)
        // The station's current status was recorded on 1 December, not on the 30th.
        #expect(int(day30, "polling_stations", "total") == 0)
        let december = try Self.east(state, "2026-12-01", nil)
        #expect(int(december, "polling_stations", "closed") == 1)
        #expect(int(december, "polling_stations", "open") == 0)
    }

    @Test func timesStandForTheirWholeDayAndBothEndsAreInclusive() throws {
        let state = Self.log().folded()
        let byTime = try Self.east(state, "2026-11-29T18:00:00Z", "2026-11-30T00:00:01Z")
        let byDate = try Self.east(state, "2026-11-29", "2026-11-30")
        #expect(byTime == byDate)
        #expect(int(byDate, "election", "personnel_moved", "people") == 12)
        let open = try Self.east(state, nil, "2026-11-28")
        #expect(int(open, "incidents", "total") == 1)
        #expect(try Self.east(state, nil, nil) == state.sectorView("east"))
    }

    @Test func anUpdateThatMovesOccurredAtMovesTheIncidentAndItsCasualties() throws {
        var log = Self.log()
        log.add("bamako-hq", "incident.updated", sector: "east", at: "2026-12-02T08:00:00Z",
                #"{"incident_id":"A","changes":{"occurred_at":"2026-11-30T02:00:00Z"}}"#)
        let state = log.folded()
        let day28 = try Self.east(state, "2026-11-28", "2026-11-28")
        #expect(int(day28, "incidents", "total") == 0)
        #expect(int(day28, "casualties", "total", "killed") == 0)
        let day30 = try Self.east(state, "2026-11-30", "2026-11-30")
        #expect(int(day30, "incidents", "total") == 1)
        #expect(int(day30, "casualties", "total", "killed") == 2)
    }

    @Test func overviewAndIncidentListTakeTheSameRange() throws {
        let log = Self.log()
        let state = log.folded()
        let range = try DayRange(since: "2026-11-29", until: "2026-11-29")
        let overview = state.overview(range: range)
        #expect(int(overview, "mission", "incidents", "total") == 1)
        #expect(value(overview, "sectors", "1", "sector") == .string("east"))
        #expect(int(overview, "sectors", "1", "incidents", "total") == 1)
        let list = try state.incidents(IncidentQuery(range: range), lookup: log.lookup)
        #expect(int(list, "total") == 1)
        #expect(value(list, "incidents", "0", "incident_id") == .string("B"))
    }

    @Test func badRangesAreRefusedWithAStableCode() {
        do {
            _ = try DayRange(since: "yesterday", until: nil)
            Issue.record("accepted")
        } catch {
            #expect(error.code == .invalidTime)
        }
        do {
            _ = try DayRange(since: "2026-11-30", until: "2026-11-29")
            Issue.record("accepted")
        } catch {
            #expect(error.code == .invalidRange)
        }
        do {
            _ = try DayRange(since: "2026-02-30", until: nil)
            Issue.record("accepted")
        } catch {
            #expect(error.code == .invalidTime)
        }
    }
}

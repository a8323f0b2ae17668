import IncidentModel
import Projections
import Testing

/// The golden event set (Support/GoldenLog.swift) gives exactly these views. Totals by hand:
///
/// north (kidal): I4 complex_attack open; I5 retracted, so neither its ied nor its casualties
///   count. I4's only report: peacekeepers 2 killed 5 wounded 1 missing, national forces 1
///   killed, armed groups 4 killed → killed 7, wounded 5, missing 1. Medevac m2 requested 07:35,
///   dispatched 08:20 → 45.0 min, not completed → open. HQ moved 12 people to Kidal (envelope
///   north). Station KID-004 attacked. Sighting x2 armed_group_movement.
/// east (gao): I1 ied open, I2 indirect_fire closed → total 2, open 1, closed 1. I1's reports:
///   gao 08:10 (pk 1 killed 2 wounded, civ 1 wounded) and bamako-hq 09:30 (pk 1 killed 3 wounded,
///   civ 1 wounded) differ → disputed; the figure is the later one, bamako-hq's → killed 1,
///   wounded 4. Medevac m1 requested 08:15, dispatched 08:40 → 25.0 min, completed by HQ (its
///   envelope says bamako, but m1 counts where it was requested). Consignment c1 (5000 ballot
///   papers, 10 boxes) dispatched and delivered (the delivery came from kidal). Station GAO-001
///   open. Sighting x1 possible_ied.
/// west (timbuktu): I6 ambush updated to armed_clash, closed 16:00, reopened 17:00 → open.
///   Casualties civ 3 killed 4 wounded. Medevac m3 requested, never dispatched → open, no
///   delay. Consignment c2 (2000 papers, 50 tally sheets) outstanding. Station TBK-010 secured
///   then closed → closed. Sighting x3 suspicious_vehicle.
/// centre (mopti): I7 attack_on_civilians open; mopti's report (06:00, before the incident
///   report) and gao's (12:00) agree: pk 1 wounded, not disputed. Medevac m4 dispatched without
///   a request held → dispatched 1, requested 0, open 0. 8 people moved. Sighting x4
///   possible_ied. The weather.reported event is ignored, but it is mopti's newest event.
/// bamako: I3 protest open; nothing else counts here.
/// mission: incidents 6 (open 5, closed 1); casualties pk 3 killed 9 wounded 1 missing, nf 1
///   killed, civ 3 killed 5 wounded, ag 4 killed → killed 11, wounded 14, missing 1; disputed I1.
///   Medevacs requested 3 (m1 m2 m3), dispatched 3 (m1 m2 m4), completed 1, open 2 (m2 m3);
///   delays 25 and 45 → median (nearest rank, ⌈0.5·2⌉ = 1st) 25.0, p90 (⌈1.8⌉ = 2nd) 45.0, max 45.0.
///   Consignments dispatched 2, delivered 1, outstanding 1; items dispatched 10 boxes, 7000
///   papers, 50 tally sheets; delivered 10 boxes, 5000 papers. People 20 in 2 movements.
///   Stations attacked 1, closed 1, open 1. Sightings possible_ied 2, armed_group_movement 1,
///   suspicious_vehicle 1.
@Suite struct GoldenViewTests {
    static let zero = #"{"killed":0,"missing":0,"wounded":0}"#
    static let noCategory = #"{"open":0,"total":0}"#
    static let noDelays = #"{"count":0,"max":null,"median":null,"p90":null}"#

    static let north = """
        "casualties":{"disputed":[],"disputed_count":0,
          "groups":{"armed_groups":{"killed":4,"missing":0,"wounded":0},"civilians":\(zero),
                    "national_forces":{"killed":1,"missing":0,"wounded":0},"other":\(zero),
                    "peacekeepers":{"killed":2,"missing":1,"wounded":5}},
          "total":{"killed":7,"missing":1,"wounded":5}},
        "election":{"consignments":{"delivered":0,"dispatched":0,"outstanding":0},"items_delivered":{},"items_dispatched":{},
                    "personnel_moved":{"movements":1,"people":12}},
        "incidents":{"by_category":{"abduction":\(noCategory),"ambush":\(noCategory),"armed_clash":\(noCategory),
                       "attack_on_civilians":\(noCategory),"complex_attack":{"open":1,"total":1},"crime":\(noCategory),
                       "ied":\(noCategory),"indirect_fire":\(noCategory),"other":\(noCategory),"protest":\(noCategory),
                       "suicide_attack":\(noCategory)},
                     "closed":0,"open":1,"total":1},
        "intel":{"sightings":{"armed_group_movement":1,"other":0,"possible_ied":0,"suspicious_vehicle":0},"total":1},
        "medevac":{"completed":0,"dispatched":1,"open":1,
                   "request_to_dispatch_minutes":{"count":1,"max":45.0,"median":45.0,"p90":45.0},"requested":1},
        "polling_stations":{"attacked":1,"closed":0,"could_not_open":0,"open":0,"secured":0,"total":1}
        """

    static let i1Dispute = """
        {"figure":"bamako-hq:1","incident_id":"\(GoldenLog.i1)",
         "reports":[{"counts":{"armed_groups":\(zero),"civilians":{"killed":0,"missing":0,"wounded":1},
                               "national_forces":\(zero),"other":\(zero),"peacekeepers":{"killed":1,"missing":0,"wounded":3}},
                     "event":"bamako-hq:1","hlc":"1795944600000-0","origin":"bamako-hq"},
                    {"counts":{"armed_groups":\(zero),"civilians":{"killed":0,"missing":0,"wounded":1},
                               "national_forces":\(zero),"other":\(zero),"peacekeepers":{"killed":1,"missing":0,"wounded":2}},
                     "event":"gao:2","hlc":"1795939800000-0","origin":"gao"}],
         "sector":"east"}
        """

    static let east = """
        "casualties":{"disputed":[\(i1Dispute)],"disputed_count":1,
          "groups":{"armed_groups":\(zero),"civilians":{"killed":0,"missing":0,"wounded":1},"national_forces":\(zero),
                    "other":\(zero),"peacekeepers":{"killed":1,"missing":0,"wounded":3}},
          "total":{"killed":1,"missing":0,"wounded":4}},
        "election":{"consignments":{"delivered":1,"dispatched":1,"outstanding":0},
                    "items_delivered":{"ballot_boxes":10,"ballot_papers":5000},
                    "items_dispatched":{"ballot_boxes":10,"ballot_papers":5000},
                    "personnel_moved":{"movements":0,"people":0}},
        "incidents":{"by_category":{"abduction":\(noCategory),"ambush":\(noCategory),"armed_clash":\(noCategory),
                       "attack_on_civilians":\(noCategory),"complex_attack":\(noCategory),"crime":\(noCategory),
                       "ied":{"open":1,"total":1},"indirect_fire":{"open":0,"total":1},"other":\(noCategory),
                       "protest":\(noCategory),"suicide_attack":\(noCategory)},
                     "closed":1,"open":1,"total":2},
        "intel":{"sightings":{"armed_group_movement":0,"other":0,"possible_ied":1,"suspicious_vehicle":0},"total":1},
        "medevac":{"completed":1,"dispatched":1,"open":0,
                   "request_to_dispatch_minutes":{"count":1,"max":25.0,"median":25.0,"p90":25.0},"requested":1},
        "polling_stations":{"attacked":0,"closed":0,"could_not_open":0,"open":1,"secured":0,"total":1}
        """

    static let west = """
        "casualties":{"disputed":[],"disputed_count":0,
          "groups":{"armed_groups":\(zero),"civilians":{"killed":3,"missing":0,"wounded":4},"national_forces":\(zero),
                    "other":\(zero),"peacekeepers":\(zero)},
          "total":{"killed":3,"missing":0,"wounded":4}},
        "election":{"consignments":{"delivered":0,"dispatched":1,"outstanding":1},"items_delivered":{},
                    "items_dispatched":{"ballot_papers":2000,"tally_sheets":50},
                    "personnel_moved":{"movements":0,"people":0}},
        "incidents":{"by_category":{"abduction":\(noCategory),"ambush":\(noCategory),"armed_clash":{"open":1,"total":1},
                       "attack_on_civilians":\(noCategory),"complex_attack":\(noCategory),"crime":\(noCategory),
                       "ied":\(noCategory),"indirect_fire":\(noCategory),"other":\(noCategory),"protest":\(noCategory),
                       "suicide_attack":\(noCategory)},
                     "closed":0,"open":1,"total":1},
        "intel":{"sightings":{"armed_group_movement":0,"other":0,"possible_ied":0,"suspicious_vehicle":1},"total":1},
        "medevac":{"completed":0,"dispatched":0,"open":1,"request_to_dispatch_minutes":\(noDelays),"requested":1},
        "polling_stations":{"attacked":0,"closed":1,"could_not_open":0,"open":0,"secured":0,"total":1}
        """

    static let centre = """
        "casualties":{"disputed":[],"disputed_count":0,
          "groups":{"armed_groups":\(zero),"civilians":\(zero),"national_forces":\(zero),"other":\(zero),
                    "peacekeepers":{"killed":0,"missing":0,"wounded":1}},
          "total":{"killed":0,"missing":0,"wounded":1}},
        "election":{"consignments":{"delivered":0,"dispatched":0,"outstanding":0},"items_delivered":{},"items_dispatched":{},
                    "personnel_moved":{"movements":1,"people":8}},
        "incidents":{"by_category":{"abduction":\(noCategory),"ambush":\(noCategory),"armed_clash":\(noCategory),
                       "attack_on_civilians":{"open":1,"total":1},"complex_attack":\(noCategory),"crime":\(noCategory),
                       "ied":\(noCategory),"indirect_fire":\(noCategory),"other":\(noCategory),"protest":\(noCategory),
                       "suicide_attack":\(noCategory)},
                     "closed":0,"open":1,"total":1},
        "intel":{"sightings":{"armed_group_movement":0,"other":0,"possible_ied":1,"suspicious_vehicle":0},"total":1},
        "medevac":{"completed":0,"dispatched":1,"open":0,"request_to_dispatch_minutes":\(noDelays),"requested":0},
        "polling_stations":{"attacked":0,"closed":0,"could_not_open":0,"open":0,"secured":0,"total":0}
        """

    static let bamako = """
        "casualties":{"disputed":[],"disputed_count":0,
          "groups":{"armed_groups":\(zero),"civilians":\(zero),"national_forces":\(zero),"other":\(zero),"peacekeepers":\(zero)},
          "total":{"killed":0,"missing":0,"wounded":0}},
        "election":{"consignments":{"delivered":0,"dispatched":0,"outstanding":0},"items_delivered":{},"items_dispatched":{},
                    "personnel_moved":{"movements":0,"people":0}},
        "incidents":{"by_category":{"abduction":\(noCategory),"ambush":\(noCategory),"armed_clash":\(noCategory),
                       "attack_on_civilians":\(noCategory),"complex_attack":\(noCategory),"crime":\(noCategory),
                       "ied":\(noCategory),"indirect_fire":\(noCategory),"other":\(noCategory),"protest":{"open":1,"total":1},
                       "suicide_attack":\(noCategory)},
                     "closed":0,"open":1,"total":1},
        "intel":{"sightings":{"armed_group_movement":0,"other":0,"possible_ied":0,"suspicious_vehicle":0},"total":0},
        "medevac":{"completed":0,"dispatched":0,"open":0,"request_to_dispatch_minutes":\(noDelays),"requested":0},
        "polling_stations":{"attacked":0,"closed":0,"could_not_open":0,"open":0,"secured":0,"total":0}
        """

    static let mission = """
        "casualties":{"disputed":[\(i1Dispute)],"disputed_count":1,
          "groups":{"armed_groups":{"killed":4,"missing":0,"wounded":0},"civilians":{"killed":3,"missing":0,"wounded":5},
                    "national_forces":{"killed":1,"missing":0,"wounded":0},"other":\(zero),
                    "peacekeepers":{"killed":3,"missing":1,"wounded":9}},
          "total":{"killed":11,"missing":1,"wounded":14}},
        "election":{"consignments":{"delivered":1,"dispatched":2,"outstanding":1},
                    "items_delivered":{"ballot_boxes":10,"ballot_papers":5000},
                    "items_dispatched":{"ballot_boxes":10,"ballot_papers":7000,"tally_sheets":50},
                    "personnel_moved":{"movements":2,"people":20}},
        "incidents":{"by_category":{"abduction":\(noCategory),"ambush":\(noCategory),"armed_clash":{"open":1,"total":1},
                       "attack_on_civilians":{"open":1,"total":1},"complex_attack":{"open":1,"total":1},"crime":\(noCategory),
                       "ied":{"open":1,"total":1},"indirect_fire":{"open":0,"total":1},"other":\(noCategory),
                       "protest":{"open":1,"total":1},"suicide_attack":\(noCategory)},
                     "closed":1,"open":5,"total":6},
        "intel":{"sightings":{"armed_group_movement":1,"other":0,"possible_ied":2,"suspicious_vehicle":1},"total":4},
        "medevac":{"completed":1,"dispatched":3,"open":2,
                   "request_to_dispatch_minutes":{"count":2,"max":45.0,"median":25.0,"p90":45.0},"requested":3},
        "polling_stations":{"attacked":1,"closed":1,"could_not_open":0,"open":1,"secured":0,"total":3}
        """

    /// The newest event held from each office: its seq, hlc and recorded_at.
    static let freshness = """
        {"bamako-hq":{"hlc":"1796040000000-0","recorded_at":"2026-11-30T12:00:00.000Z","seq":5},
         "gao":{"hlc":"1795953600000-0","recorded_at":"2026-11-29T12:00:00.000Z","seq":10},
         "kidal":{"hlc":"1796032800000-0","recorded_at":"2026-11-30T10:00:00.000Z","seq":10},
         "mopti":{"hlc":"1795950000000-0","recorded_at":"2026-11-29T11:00:00.000Z","seq":7},
         "timbuktu":{"hlc":"1796027400000-0","recorded_at":"2026-11-30T08:30:00.000Z","seq":10}}
        """

    static let allTime = #"{"since":null,"until":null}"#

    @Test func sectorViewsAreExactlyTheHandTotals() throws {
        let state = GoldenLog.make().folded()
        for (name, body) in [("north", Self.north), ("east", Self.east), ("west", Self.west), ("centre", Self.centre),
                             ("bamako", Self.bamako)] {
            let expected = canonical(
                "{\(body),\"freshness\":\(Self.freshness),\"range\":\(Self.allTime),\"sector\":\"\(name)\"}")
            let view = try #require(state.sectorView(name))
            #expect(view.text == expected, "sector \(name)")
        }
    }

    @Test func overviewIsExactlyTheHandTotals() {
        let state = GoldenLog.make().folded()
        let sectors = [("north", Self.north), ("east", Self.east), ("west", Self.west), ("centre", Self.centre),
                       ("bamako", Self.bamako)]
            .map { "{\($0.1),\"sector\":\"\($0.0)\"}" }
        let expected = canonical("""
            {"freshness":\(Self.freshness),"mission":{\(Self.mission)},"range":\(Self.allTime),
             "sectors":[\(sectors.joined(separator: ","))]}
            """)
        #expect(state.overview().text == expected)
    }

    @Test func overviewListsTheConfiguredSectorsInTheirOrder() throws {
        let state = GoldenLog.make().folded(sectors: ["bamako", "east"])
        let overview = state.overview()
        // The configured sectors in their order; events of the others are quarantined.
        let names = try #require(value(overview, "sectors")?.arrayValue).map { $0["sector"]?.stringValue ?? "" }
        #expect(names == ["bamako", "east"])
        #expect(state.quarantinedCount > 0)
        #expect(state.sectorView("south") == nil)
        #expect(ProjectionState(sectors: ["south"]).sectorView("south") != nil)
    }

    @Test func freshnessAgesAreWorkedOutAtQueryTime() {
        let state = GoldenLog.make().folded()
        let now = RFC3339.parseMillis("2026-11-30T12:10:00.500Z")!
        let expected = canonical("""
            {"ages":{"bamako-hq":600,"gao":87000,"kidal":7800,"mopti":90600,"timbuktu":13200},
             "as_of":"2026-11-30T12:10:00.500Z"}
            """)
        #expect(state.freshnessAges(nowMillis: now).text == expected)
        // The folded view does not change with the time of the query.
        #expect(state.overview() == GoldenLog.make().folded().overview())
    }
}

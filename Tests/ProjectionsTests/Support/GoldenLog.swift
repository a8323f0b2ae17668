import IncidentModel

/// The golden event set: five offices, every sector and every event type, small enough to
/// total by hand (GoldenViewTests holds the totals and how they come about).
///
/// Incidents: I1 east ied (gao), I2 east indirect_fire closed (gao), I3 bamako protest (HQ),
/// I4 north complex_attack (kidal), I5 north ied retracted (kidal), I6 west ambush→armed_clash,
/// closed then reopened (timbuktu), I7 centre attack_on_civilians, whose casualties mopti sent
/// before its report.
enum GoldenLog {
    static let i1 = "8d0f1c2e-0001-4aaa-8bbb-000000000001"
    static let i2 = "8d0f1c2e-0002-4aaa-8bbb-000000000002"
    static let i3 = "hq-2026-11-30-protest"
    static let i4 = "8d0f1c2e-0004-4aaa-8bbb-000000000004"
    static let i5 = "8d0f1c2e-0005-4aaa-8bbb-000000000005"
    static let i6 = "TBK-0006"
    static let i7 = "8d0f1c2e-0007-4aaa-8bbb-000000000007"

    static func make() -> EventLog {
        var log = EventLog()
        let zero = #"{"killed":0,"wounded":0,"missing":0}"#

        // gao (east)
        log.add("gao", "incident.reported", sector: "east", at: "2026-11-29T08:00:00Z", """
            {"incident_id":"\(i1)","category":"ied","summary":"IED on the Gao–Ansongo road","occurred_at":"2026-11-28T06:00:00Z",
             "time_precision":"minute","location":{"name":"Gao road, km 12","lat":16.2,"lon":-0.04,"precision":"near"},
             "actors":["unidentified armed group"],"source":"convoy escort","confidence":"high"}
            """)
        log.add("gao", "casualties.reported", sector: "east", at: "2026-11-29T08:10:00Z", """
            {"incident_id":"\(i1)","peacekeepers":{"killed":1,"wounded":2},"national_forces":\(zero),"civilians":{"wounded":1}}
            """)
        log.add("gao", "medevac.requested", sector: "east", at: "2026-11-29T08:15:00Z", """
            {"medevac_id":"m1","incident_id":"\(i1)","priority":"urgent","patients":2,"pickup":{"name":"Gao road, km 12"}}
            """)
        log.add("gao", "medevac.dispatched", sector: "east", at: "2026-11-29T08:40:00Z", #"{"medevac_id":"m1","asset":"CASEVAC 2"}"#)
        log.add("gao", "incident.reported", sector: "east", at: "2026-11-29T09:00:00Z", """
            {"incident_id":"\(i2)","category":"indirect_fire","summary":"Rockets on camp","occurred_at":"2026-11-29T02:00:00Z",
             "location":{"name":"Gao camp"}}
            """)
        log.add("gao", "incident.closed", sector: "east", at: "2026-11-29T10:00:00Z", #"{"incident_id":"\#(i2)","reason":"no damage"}"#)
        log.add("gao", "election.material.dispatched", sector: "east", at: "2026-11-29T10:30:00Z", """
            {"consignment_id":"c1","items":{"ballot_papers":5000,"ballot_boxes":10},"to":{"name":"Menaka"},"mode":"road"}
            """)
        log.add("gao", "polling_station.status", sector: "east", at: "2026-11-29T11:00:00Z",
                #"{"station_id":"GAO-001","name":"Gao centre 1","status":"open"}"#)
        log.add("gao", "intel.sighting", sector: "east", at: "2026-11-29T11:30:00Z", """
            {"sighting_id":"x1","kind":"possible_ied","source":"uav","location":{"name":"Ansongo"}}
            """)
        log.add("gao", "casualties.reported", sector: "centre", at: "2026-11-29T12:00:00Z", """
            {"incident_id":"\(i7)","peacekeepers":{"wounded":1},"national_forces":\(zero),"civilians":\(zero)}
            """)

        // bamako-hq (bamako)
        log.add("bamako-hq", "casualties.reported", sector: "east", at: "2026-11-29T09:30:00Z", """
            {"incident_id":"\(i1)","peacekeepers":{"killed":1,"wounded":3},"national_forces":\(zero),"civilians":{"wounded":1}}
            """)
        log.add("bamako-hq", "incident.verified", sector: "east", at: "2026-11-29T09:45:00Z",
                #"{"incident_id":"\#(i1)","status":"verified","basis":"imagery"}"#)
        log.add("bamako-hq", "incident.reported", sector: "bamako", at: "2026-11-30T10:30:00Z", """
            {"incident_id":"\(i3)","category":"protest","summary":"Demonstration at the gate","occurred_at":"2026-11-30T10:00:00Z",
             "location":{"name":"Bamako HQ"}}
            """)
        log.add("bamako-hq", "election.personnel.moved", sector: "north", at: "2026-11-30T11:00:00Z",
                #"{"count":12,"to":{"name":"Kidal"},"role":"polling staff"}"#)
        log.add("bamako-hq", "medevac.completed", sector: "bamako", at: "2026-11-30T12:00:00Z",
                #"{"medevac_id":"m1","outcome":"delivered","facility":"Level 2 Gao"}"#)

        // kidal (north)
        log.add("kidal", "incident.reported", sector: "north", at: "2026-11-29T07:00:00Z", """
            {"incident_id":"\(i4)","category":"complex_attack","summary":"Attack on the camp","occurred_at":"2026-11-27T23:00:00Z",
             "location":{"name":"Kidal camp"}}
            """)
        log.add("kidal", "casualties.reported", sector: "north", at: "2026-11-29T07:30:00Z", """
            {"incident_id":"\(i4)","peacekeepers":{"killed":2,"wounded":5,"missing":1},"national_forces":{"killed":1},
             "civilians":\(zero),"armed_groups":{"killed":4}}
            """)
        log.add("kidal", "medevac.requested", sector: "north", at: "2026-11-29T07:35:00Z", """
            {"medevac_id":"m2","incident_id":"\(i4)","priority":"urgent","patients":5,"pickup":{"name":"Kidal camp"}}
            """)
        log.add("kidal", "medevac.dispatched", sector: "north", at: "2026-11-29T08:20:00Z", #"{"medevac_id":"m2","asset":"CASEVAC 1"}"#)
        log.add("kidal", "incident.reported", sector: "north", at: "2026-11-29T08:30:00Z", """
            {"incident_id":"\(i5)","category":"ied","summary":"IED (same as the camp attack)","occurred_at":"2026-11-29T05:00:00Z",
             "location":{"name":"Kidal"}}
            """)
        log.add("kidal", "incident.retracted", sector: "north", at: "2026-11-29T08:45:00Z",
                #"{"incident_id":"\#(i5)","reason":"duplicate","duplicate_of":"\#(i4)"}"#)
        log.add("kidal", "casualties.reported", sector: "north", at: "2026-11-29T08:50:00Z", """
            {"incident_id":"\(i5)","peacekeepers":{"killed":2},"national_forces":\(zero),"civilians":\(zero)}
            """)
        log.add("kidal", "election.material.delivered", sector: "north", at: "2026-11-30T09:00:00Z",
                #"{"consignment_id":"c1","seals_intact":true}"#)
        log.add("kidal", "polling_station.status", sector: "north", at: "2026-11-30T09:30:00Z",
                #"{"station_id":"KID-004","name":"Kidal 4","status":"attacked"}"#)
        log.add("kidal", "intel.sighting", sector: "north", at: "2026-11-30T10:00:00Z", """
            {"sighting_id":"x2","kind":"armed_group_movement","source":"patrol","location":{"name":"Tessalit"}}
            """)

        // timbuktu (west)
        log.add("timbuktu", "incident.reported", sector: "west", at: "2026-11-29T15:00:00Z", """
            {"incident_id":"\(i6)","category":"ambush","summary":"Patrol ambushed","occurred_at":"2026-11-29T14:00:00Z",
             "location":{"name":"Ber"}}
            """)
        log.add("timbuktu", "incident.updated", sector: "west", at: "2026-11-29T15:30:00Z",
                #"{"incident_id":"\#(i6)","changes":{"category":"armed_clash"},"reason":"debrief"}"#)
        log.add("timbuktu", "incident.closed", sector: "west", at: "2026-11-29T16:00:00Z", #"{"incident_id":"\#(i6)"}"#)
        log.add("timbuktu", "incident.updated", sector: "west", at: "2026-11-29T17:00:00Z",
                #"{"incident_id":"\#(i6)","changes":{"status":"open"},"reason":"fighting resumed"}"#)
        log.add("timbuktu", "casualties.reported", sector: "west", at: "2026-11-29T17:30:00Z", """
            {"incident_id":"\(i6)","peacekeepers":\(zero),"national_forces":\(zero),"civilians":{"killed":3,"wounded":4}}
            """)
        log.add("timbuktu", "medevac.requested", sector: "west", at: "2026-11-29T18:00:00Z", """
            {"medevac_id":"m3","priority":"routine","patients":1,"pickup":{"name":"Goundam"}}
            """)
        log.add("timbuktu", "election.material.dispatched", sector: "west", at: "2026-11-29T18:30:00Z", """
            {"consignment_id":"c2","items":{"ballot_papers":2000,"tally_sheets":50},"to":{"name":"Ber"},"mode":"helicopter"}
            """)
        log.add("timbuktu", "polling_station.status", sector: "west", at: "2026-11-29T19:00:00Z",
                #"{"station_id":"TBK-010","name":"Ber 1","status":"secured"}"#)
        log.add("timbuktu", "polling_station.status", sector: "west", at: "2026-11-30T08:00:00Z",
                #"{"station_id":"TBK-010","name":"Ber 1","status":"closed"}"#)
        log.add("timbuktu", "intel.sighting", sector: "west", at: "2026-11-30T08:30:00Z", """
            {"sighting_id":"x3","kind":"suspicious_vehicle","source":"community","location":{"name":"Goundam"}}
            """)

        // mopti (centre)
        log.add("mopti", "casualties.reported", sector: "centre", at: "2026-11-29T06:00:00Z", """
            {"incident_id":"\(i7)","peacekeepers":{"wounded":1},"national_forces":\(zero),"civilians":\(zero)}
            """)
        log.add("mopti", "incident.reported", sector: "centre", at: "2026-11-29T06:30:00Z", """
            {"incident_id":"\(i7)","category":"attack_on_civilians","summary":"Village attacked","occurred_at":"2026-11-29T05:30:00Z",
             "location":{"name":"Boulikessi"}}
            """)
        log.add("mopti", "incident.verified", sector: "centre", at: "2026-11-29T07:00:00Z",
                #"{"incident_id":"\#(i7)","status":"disputed"}"#)
        log.add("mopti", "election.personnel.moved", sector: "centre", at: "2026-11-29T09:00:00Z",
                #"{"count":8,"to":{"name":"Mopti"}}"#)
        log.add("mopti", "medevac.dispatched", sector: "centre", at: "2026-11-29T10:00:00Z", #"{"medevac_id":"m4","asset":"CASEVAC 3"}"#)
        log.add("mopti", "intel.sighting", sector: "centre", at: "2026-11-29T10:30:00Z", """
            {"sighting_id":"x4","kind":"possible_ied","source":"uav","location":{"name":"Douentza"}}
            """)
        log.add("mopti", "weather.reported", sector: "centre", at: "2026-11-29T11:00:00Z", #"{"wind_kt":30}"#)
        return log
    }
}

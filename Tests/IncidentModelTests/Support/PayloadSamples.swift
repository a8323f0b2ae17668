import IncidentModel

/// One valid client event per type, every optional field filled in, as a field office sends it.
enum PayloadSamples {
    static let location = #"{"name":"Gao","lat":16.27,"lon":-0.04,"admin1":"Gao","precision":"exact"}"#

    static let data: [EventType: String] = [
        .incidentReported: #"""
            {"incident_id":"0b9e","category":"ied","summary":"IED strike on a convoy","occurred_at":"2026-11-29T04:00:00Z",
             "time_precision":"minute","location":\#(location),"actors":["unknown"],"source":"patrol","confidence":"medium"}
            """#,
        .incidentUpdated: #"""
            {"incident_id":"0b9e","changes":{"category":"complex_attack","summary":"IED then small-arms fire",
             "occurred_at":"2026-11-29T03:55:00.5Z","location":{"name":"Ansongo"},"actors":["JNIM"],"confidence":"high",
             "status":"open","time_precision":"hour","source":"UAV"},"reason":"drone footage"}
            """#,
        .incidentVerified: #"{"incident_id":"0b9e","status":"verified","basis":"site visit"}"#,
        .incidentClosed: #"{"incident_id":"0b9e","reason":"investigation complete"}"#,
        .incidentRetracted: #"{"incident_id":"0b9f","reason":"duplicate","duplicate_of":"0b9e"}"#,
        .casualtiesReported: #"""
            {"incident_id":"0b9e","peacekeepers":{"killed":0,"wounded":3,"missing":0},"national_forces":{"killed":1},
             "civilians":{},"armed_groups":{"killed":2,"wounded":0,"missing":1},"other":{"missing":0}}
            """#,
        .medevacRequested: #"""
            {"medevac_id":"m-1","incident_id":"0b9e","priority":"urgent","patients":3,"pickup":{"name":"Tarkint"}}
            """#,
        .medevacDispatched: #"{"medevac_id":"m-1","asset":"Puma 2"}"#,
        .medevacCompleted: #"{"medevac_id":"m-1","outcome":"delivered","facility":"Level 2 hospital Gao"}"#,
        .electionMaterialDispatched: #"""
            {"consignment_id":"c-7","items":{"ballot_papers":12000,"ballot_boxes":40,"tally_sheets":0},
             "to":{"name":"Kidal"},"mode":"helicopter"}
            """#,
        .electionMaterialDelivered: #"{"consignment_id":"c-7","seals_intact":false,"discrepancy":"2 boxes short"}"#,
        .electionPersonnelMoved: #"{"count":14,"to":{"name":"Ménaka","precision":"admin2"},"role":"polling staff"}"#,
        .pollingStationStatus: #"""
            {"station_id":"ps-301","name":"École de Tessalit","status":"could_not_open","location":{"name":"Tessalit"}}
            """#,
        .intelSighting: #"""
            {"sighting_id":"s-9","kind":"armed_group_movement","source":"uav","location":\#(location),"confidence":"low"}
            """#,
    ]

    /// The smallest valid payload of each type: required fields only.
    static let minimal: [EventType: String] = [
        .incidentReported: #"""
            {"incident_id":"a","category":"other","summary":"s","occurred_at":"2026-01-01T00:00:00Z","location":{"name":"Mopti"}}
            """#,
        .incidentUpdated: #"{"incident_id":"a","changes":{"summary":"t"}}"#,
        .incidentVerified: #"{"incident_id":"a","status":"disputed"}"#,
        .incidentClosed: #"{"incident_id":"a"}"#,
        .incidentRetracted: #"{"incident_id":"a","reason":"entered_in_error"}"#,
        .casualtiesReported: #"{"incident_id":"a","peacekeepers":{},"national_forces":{},"civilians":{}}"#,
        .medevacRequested: #"{"medevac_id":"m","priority":"routine","patients":1,"pickup":{"name":"Ber"}}"#,
        .medevacDispatched: #"{"medevac_id":"m","asset":"Mi-8"}"#,
        .medevacCompleted: #"{"medevac_id":"m","outcome":"aborted"}"#,
        .electionMaterialDispatched: #"{"consignment_id":"c","items":{"ballot_boxes":1},"to":{"name":"Goundam"}}"#,
        .electionMaterialDelivered: #"{"consignment_id":"c","seals_intact":true}"#,
        .electionPersonnelMoved: #"{"count":1,"to":{"name":"Douentza"}}"#,
        .pollingStationStatus: #"{"station_id":"p","name":"n","status":"open"}"#,
        .intelSighting: #"{"sighting_id":"s","kind":"possible_ied","source":"community","location":{"name":"Boulikessi"}}"#,
    ]

    /// The start of an incident.reported payload with everything but `location`.
    static let reportedPrefix = #"{"incident_id":"a","category":"ied","summary":"s","occurred_at":"2026-11-29T04:00:00Z","#

    /// `{"type":…,"sector":…,"data":…}` as a client sends it.
    static func event(type: String, sector: String = "east", data: String) -> JSONValue {
        try! JSONParser.parse(Array(#"{"type":"\#(type)","sector":"\#(sector)","data":\#(data)}"#.utf8))
    }

    static func event(_ type: EventType, sector: String = "east", data: String) -> JSONValue {
        event(type: type.rawValue, sector: sector, data: data)
    }
}

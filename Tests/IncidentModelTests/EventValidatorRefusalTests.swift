import Foundation
import IncidentModel
import Testing

/// Each class of invalid event is refused with the path of the offending field and the reason,
/// so that a field office can fix the one thing that is wrong.
@Suite struct EventValidatorRefusalTests {
    let validator = EventValidator()

    func failure(_ event: JSONValue) -> EventValidator.Failure? {
        do {
            let accepted = try validator.validate(event)
            Issue.record("accepted \(accepted.type.rawValue) with \(String(decoding: accepted.canonicalData, as: UTF8.self))")
            return nil
        } catch {
            return error
        }
    }

    func failure(_ type: EventType, _ data: String) -> EventValidator.Failure? {
        failure(PayloadSamples.event(type, data: data))
    }

    @Test func missingRequiredNestedFieldIsNamedByPath() {
        let f = failure(.incidentReported, PayloadSamples.reportedPrefix + #""location":{"lat":16.2}}"#)
        #expect(f?.field == "data.location.name")
        #expect(f?.reason == "required")
        #expect(f?.description == "data.location.name: required")
    }

    @Test func missingTopLevelMembersAreNamed() {
        #expect(failure(try! JSONParser.parse(Array(#"{"sector":"east","data":{}}"#.utf8)))
            == .init(field: "type", reason: "required"))
        #expect(failure(try! JSONParser.parse(Array(#"{"type":"incident.closed","data":{}}"#.utf8)))
            == .init(field: "sector", reason: "required"))
        #expect(failure(try! JSONParser.parse(Array(#"{"type":"incident.closed","sector":"east"}"#.utf8)))
            == .init(field: "data", reason: "required"))
        #expect(failure(.incidentReported, #"{"incident_id":"a"}"#) == .init(field: "data.category", reason: "required"))
    }

    @Test(arguments: [
        (EventType.incidentClosed, #"{"incident_id":17}"#, "data.incident_id", "expected string, got number"),
        (.incidentReported, PayloadSamples.reportedPrefix + #""location":"Gao"}"#, "data.location", "expected object, got string"),
        (.incidentReported, PayloadSamples.reportedPrefix + #""location":{"name":["Gao"]}}"#, "data.location.name", "expected string, got array"),
        (.incidentReported, PayloadSamples.reportedPrefix + #""location":{"name":"Gao","lat":"16.2"}}"#, "data.location.lat", "expected number, got string"),
        (.incidentReported, PayloadSamples.reportedPrefix + #""location":{"name":"Gao"},"actors":"JNIM"}"#, "data.actors", "expected array of strings, got string"),
        (.incidentReported, PayloadSamples.reportedPrefix + #""location":{"name":"Gao"},"actors":["JNIM",4]}"#, "data.actors[1]", "expected string, got number"),
        (.medevacRequested, #"{"medevac_id":"m","priority":"urgent","patients":"3","pickup":{"name":"B"}}"#, "data.patients", "expected integer, got string"),
        (.medevacRequested, #"{"medevac_id":"m","priority":"urgent","patients":2.5,"pickup":{"name":"B"}}"#, "data.patients", "expected an integer"),
        (.electionMaterialDelivered, #"{"consignment_id":"c","seals_intact":"yes"}"#, "data.seals_intact", "expected boolean, got string"),
        (.electionMaterialDispatched, #"{"consignment_id":"c","items":[1],"to":{"name":"K"}}"#, "data.items", "expected object, got array"),
        (.electionMaterialDispatched, #"{"consignment_id":"c","items":{"ballot_boxes":true},"to":{"name":"K"}}"#, "data.items.ballot_boxes", "expected integer, got boolean"),
        (.incidentUpdated, #"{"incident_id":"a","changes":null}"#, "data.changes", "expected object, got null"),
        (.incidentUpdated, #"{"incident_id":"a","changes":{"summary":5}}"#, "data.changes.summary", "expected string, got number"),
        (.incidentVerified, #"{"incident_id":"a","status":true}"#, "data.status", "expected string, got boolean"),
        (.incidentReported, PayloadSamples.reportedPrefix.replacingFirst(#""occurred_at":"2026-11-29T04:00:00Z""#, #""occurred_at":1764388800"#) + #""location":{"name":"Gao"}}"#, "data.occurred_at", "expected string, got number"),
    ] as [(EventType, String, String, String)])
    func wrongTypeIsRefusedNamingTheField(type: EventType, data: String, field: String, reason: String) {
        #expect(failure(type, data) == .init(field: field, reason: reason))
    }

    @Test func dataThatIsNotAnObjectIsRefused() {
        #expect(failure(.incidentClosed, "[]") == .init(field: "data", reason: "expected object, got array"))
        #expect(failure(.null) == .init(field: "event", reason: "expected object, got null"))
    }

    @Test func unknownEventTypeIsRefused() {
        #expect(failure(PayloadSamples.event(type: "incident.exploded", data: "{}"))
            == .init(field: "type", reason: #"unknown event type "incident.exploded""#))
        #expect(failure(try! JSONParser.parse(Array(#"{"type":3,"sector":"east","data":{}}"#.utf8)))
            == .init(field: "type", reason: "expected string, got number"))
    }

    @Test func unknownSectorIsRefused() {
        #expect(failure(PayloadSamples.event(.incidentClosed, sector: "south", data: #"{"incident_id":"a"}"#))
            == .init(field: "sector", reason: #"unknown sector "south" (known: north, east, west, centre, bamako)"#))
        #expect(failure(PayloadSamples.event(.incidentClosed, sector: "East", data: #"{"incident_id":"a"}"#))?.field == "sector")
    }

    @Test func unknownEnumValueIsRefusedListingTheAllowedOnes() {
        #expect(failure(.incidentReported, #"{"incident_id":"a","category":"earthquake"}"#)
            == .init(field: "data.category", reason: #"unknown value "earthquake" (allowed: ied, indirect_fire, ambush, complex_attack, suicide_attack, armed_clash, attack_on_civilians, abduction, crime, protest, other)"#))
        #expect(failure(.medevacRequested, #"{"medevac_id":"m","priority":"asap","patients":1,"pickup":{"name":"B"}}"#)
            == .init(field: "data.priority", reason: #"unknown value "asap" (allowed: urgent, priority, routine)"#))
        #expect(failure(.intelSighting, #"{"sighting_id":"s","kind":"other","source":"uav","location":{"name":"G","precision":"street"}}"#)
            == .init(field: "data.location.precision", reason: #"unknown value "street" (allowed: exact, near, admin2, admin1, country)"#))
        #expect(failure(.incidentUpdated, #"{"incident_id":"a","changes":{"status":"reopened"}}"#)
            == .init(field: "data.changes.status", reason: #"unknown value "reopened" (allowed: open, closed)"#))
        #expect(failure(.pollingStationStatus, #"{"station_id":"p","name":"n","status":"Open"}"#)?.field == "data.status")
    }

    @Test func negativeCountIsRefused() {
        let data = #"{"incident_id":"a","peacekeepers":{},"national_forces":{},"civilians":{"killed":-1,"wounded":2}}"#
        #expect(failure(.casualtiesReported, data) == .init(field: "data.civilians.killed", reason: "must not be negative"))
        #expect(failure(.electionMaterialDispatched, #"{"consignment_id":"c","items":{"ballot_papers":-5},"to":{"name":"K"}}"#)
            == .init(field: "data.items.ballot_papers", reason: "must not be negative"))
    }

    @Test func countsBelowTheirMinimumAreRefused() {
        #expect(failure(.medevacRequested, #"{"medevac_id":"m","priority":"urgent","patients":0,"pickup":{"name":"B"}}"#)
            == .init(field: "data.patients", reason: "must be at least 1"))
        #expect(failure(.electionPersonnelMoved, #"{"count":0,"to":{"name":"K"}}"#)
            == .init(field: "data.count", reason: "must be at least 1"))
    }

    @Test func misspeltCasualtyKindAndUnknownChangeAreRefusedNotDropped() {
        #expect(failure(.casualtiesReported, #"{"incident_id":"a","peacekeepers":{"injured":2},"national_forces":{},"civilians":{}}"#)
            == .init(field: "data.peacekeepers.injured", reason: "unknown field"))
        #expect(failure(.incidentUpdated, #"{"incident_id":"a","changes":{"colour":"red"}}"#)
            == .init(field: "data.changes.colour", reason: "unknown field"))
        #expect(failure(.incidentUpdated, #"{"incident_id":"a","changes":{}}"#)
            == .init(field: "data.changes", reason: "must change at least one field"))
        #expect(failure(.electionMaterialDispatched, #"{"consignment_id":"c","items":{},"to":{"name":"K"}}"#)
            == .init(field: "data.items", reason: "must name at least one item"))
    }

    @Test func malformedValuesAreRefused() {
        #expect(failure(.incidentClosed, #"{"incident_id":""}"#) == .init(field: "data.incident_id", reason: "must not be empty"))
        #expect(failure(.incidentReported, PayloadSamples.reportedPrefix.replacingFirst("04:00:00Z", "04:00:00+01:00") + #""location":{"name":"G"}}"#)
            == .init(field: "data.occurred_at", reason: #"expected an RFC 3339 UTC time like 2026-11-29T04:00:00Z, got "2026-11-29T04:00:00+01:00""#))
        #expect(failure(.intelSighting, #"{"sighting_id":"s","kind":"other","source":"uav","location":{"name":"G","lat":91}}"#)
            == .init(field: "data.location.lat", reason: "must be between -90.0 and 90.0"))
        #expect(failure(.intelSighting, #"{"sighting_id":"s","kind":"other","source":"uav","location":{"name":"G","lon":-180.5}}"#)
            == .init(field: "data.location.lon", reason: "must be between -180.0 and 180.0"))
    }

    @Test func envelopeFieldsFromTheClientAreRefused() {
        let event = try! JSONParser.parse(Array(#"{"type":"incident.closed","sector":"east","data":{"incident_id":"a"},"origin":"bamako"}"#.utf8))
        #expect(failure(event) == .init(field: "origin", reason: "unknown field (the node sets the envelope itself)"))
    }
}

extension String {
    func replacingFirst(_ target: String, _ replacement: String) -> String {
        guard let range = range(of: target) else { fatalError("\(target) not in \(self)") }
        return replacingCharacters(in: range, with: replacement)
    }
}

import IncidentModel
import Testing

/// Every event type of the catalogue has a payload the validator accepts.
@Suite struct EventValidatorAcceptanceTests {
    let validator = EventValidator()

    @Test func samplesCoverEveryEventType() {
        #expect(EventType.allCases.count == 14)
        #expect(Set(PayloadSamples.data.keys) == Set(EventType.allCases))
        #expect(Set(PayloadSamples.minimal.keys) == Set(EventType.allCases))
    }

    @Test(arguments: EventType.allCases)
    func completePayloadOfEveryTypeIsAccepted(type: EventType) throws {
        let sample = try #require(PayloadSamples.data[type])
        let event = try validator.validate(PayloadSamples.event(type, data: sample))
        #expect(event.type == type)
        #expect(event.sector == "east")
        #expect(event.canonicalData == (try JSONParser.parse(Array(sample.utf8))).canonicalBytes)
    }

    @Test(arguments: EventType.allCases)
    func payloadWithOnlyRequiredFieldsIsAccepted(type: EventType) throws {
        let sample = try #require(PayloadSamples.minimal[type])
        #expect(throws: Never.self) { try validator.validate(PayloadSamples.event(type, sector: "bamako", data: sample)) }
    }

    @Test(arguments: EventType.allCases)
    func payloadMissingAnyRequiredFieldIsRefusedNamingIt(type: EventType) throws {
        // The minimal samples hold exactly the required fields: dropping any one must be refused.
        let minimal = try JSONParser.parse(Array(try #require(PayloadSamples.minimal[type]).utf8))
        let members = try #require(minimal.objectMembers)
        let required = PayloadSchema.fields(for: type).filter(\.required).map(\.name)
        #expect(Set(members.map(\.key)) == Set(required))
        for name in required {
            let data = JSONValue.object(members.filter { $0.key != name })
            let event = JSONValue.object([("type", .string(type.rawValue)), ("sector", .string("east")), ("data", data)])
            let failure = #expect(throws: EventValidator.Failure.self) { try validator.validate(event) }
            #expect(failure == EventValidator.Failure(field: "data.\(name)", reason: "required"))
        }
    }

    @Test func unknownDataFieldsAreKeptAsWritten() throws {
        let event = try validator.validate(PayloadSamples.event(
            .incidentClosed, data: #"{"incident_id":"a","closed_by":{"unit":"BANBAT-2","note":[1,2.50]}}"#))
        #expect(String(decoding: event.canonicalData, as: UTF8.self)
            == #"{"closed_by":{"note":[1,2.50],"unit":"BANBAT-2"},"incident_id":"a"}"#)
    }

    @Test func everyDefaultSectorIsAcceptedAndAConfiguredListReplacesIt() throws {
        for sector in ["north", "east", "west", "centre", "bamako"] {
            #expect(throws: Never.self) {
                try validator.validate(PayloadSamples.event(.incidentClosed, sector: sector, data: #"{"incident_id":"a"}"#))
            }
        }
        let custom = EventValidator(sectors: ["liptako"])
        #expect(throws: Never.self) {
            try custom.validate(PayloadSamples.event(.incidentClosed, sector: "liptako", data: #"{"incident_id":"a"}"#))
        }
        #expect(throws: EventValidator.Failure.self) {
            try custom.validate(PayloadSamples.event(.incidentClosed, sector: "east", data: #"{"incident_id":"a"}"#))
        }
    }
}

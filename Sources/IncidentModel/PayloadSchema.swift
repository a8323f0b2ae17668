/// What each event type's `data` holds: the single table the validator checks against.
///
/// Unknown members of `data` and of a `location` are kept as written (the catalogue allows
/// optional additions); unknown members of `counts` and of `incident.updated`'s `changes` are
/// refused, because a misspelt casualty figure or change would otherwise vanish silently.
public struct FieldSpec: Sendable {
    public indirect enum Kind: Sendable {
        case string
        case time
        case enumeration([String])
        /// An integer ≥ the bound.
        case integer(min: Int64)
        case number(min: Double, max: Double)
        case bool
        case location
        case counts
        /// An object of item name → integer ≥ 0, at least one item.
        case items
        case stringArray
        /// `incident.updated`'s changes: a non-empty object of these fields, nothing else.
        case changes([FieldSpec])
    }

    public var name: String
    public var kind: Kind
    public var required: Bool

    public init(_ name: String, _ kind: Kind, required: Bool = false) {
        self.name = name
        self.kind = kind
        self.required = required
    }
}

public enum PayloadSchema {
    static func req(_ name: String, _ kind: FieldSpec.Kind) -> FieldSpec { FieldSpec(name, kind, required: true) }
    static func opt(_ name: String, _ kind: FieldSpec.Kind) -> FieldSpec { FieldSpec(name, kind) }

    static let incidentFields: [FieldSpec] = [
        opt("category", .enumeration(Vocabulary.incidentCategories)),
        opt("summary", .string),
        opt("occurred_at", .time),
        opt("time_precision", .enumeration(Vocabulary.timePrecisions)),
        opt("location", .location),
        opt("actors", .stringArray),
        opt("source", .string),
        opt("confidence", .enumeration(Vocabulary.confidences)),
        opt("status", .enumeration(Vocabulary.incidentStatuses)),
    ]

    public static func fields(for type: EventType) -> [FieldSpec] {
        switch type {
        case .incidentReported:
            return [
                req("incident_id", .string), req("category", .enumeration(Vocabulary.incidentCategories)),
                req("summary", .string), req("occurred_at", .time),
                opt("time_precision", .enumeration(Vocabulary.timePrecisions)), req("location", .location),
                opt("actors", .stringArray), opt("source", .string),
                opt("confidence", .enumeration(Vocabulary.confidences)),
            ]
        case .incidentUpdated:
            return [req("incident_id", .string), req("changes", .changes(incidentFields)), opt("reason", .string)]
        case .incidentVerified:
            return [
                req("incident_id", .string), req("status", .enumeration(Vocabulary.verificationStatuses)),
                opt("basis", .string),
            ]
        case .incidentClosed:
            return [req("incident_id", .string), opt("reason", .string)]
        case .incidentRetracted:
            return [
                req("incident_id", .string), req("reason", .enumeration(Vocabulary.retractionReasons)),
                opt("duplicate_of", .string),
            ]
        case .casualtiesReported:
            return [
                req("incident_id", .string), req("peacekeepers", .counts), req("national_forces", .counts),
                req("civilians", .counts), opt("armed_groups", .counts), opt("other", .counts),
            ]
        case .medevacRequested:
            return [
                req("medevac_id", .string), opt("incident_id", .string),
                req("priority", .enumeration(Vocabulary.medevacPriorities)), req("patients", .integer(min: 1)),
                req("pickup", .location),
            ]
        case .medevacDispatched:
            return [req("medevac_id", .string), req("asset", .string)]
        case .medevacCompleted:
            return [
                req("medevac_id", .string), req("outcome", .enumeration(Vocabulary.medevacOutcomes)),
                opt("facility", .string),
            ]
        case .electionMaterialDispatched:
            return [
                req("consignment_id", .string), req("items", .items), req("to", .location),
                opt("mode", .enumeration(Vocabulary.transportModes)),
            ]
        case .electionMaterialDelivered:
            return [req("consignment_id", .string), req("seals_intact", .bool), opt("discrepancy", .string)]
        case .electionPersonnelMoved:
            return [req("count", .integer(min: 1)), req("to", .location), opt("role", .string)]
        case .pollingStationStatus:
            return [
                req("station_id", .string), req("name", .string),
                req("status", .enumeration(Vocabulary.pollingStationStatuses)), opt("location", .location),
            ]
        case .intelSighting:
            return [
                req("sighting_id", .string), req("kind", .enumeration(Vocabulary.sightingKinds)),
                req("source", .enumeration(Vocabulary.sightingSources)), req("location", .location),
                opt("confidence", .enumeration(Vocabulary.confidences)),
            ]
        }
    }

    static let locationFields: [FieldSpec] = [
        req("name", .string), opt("lat", .number(min: -90, max: 90)), opt("lon", .number(min: -180, max: 180)),
        opt("admin1", .string), opt("precision", .enumeration(Vocabulary.locationPrecisions)),
    ]
}

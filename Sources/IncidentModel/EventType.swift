/// The event types of the catalogue (docs/EVENTS.md). The raw value is the wire name.
public enum EventType: String, CaseIterable, Sendable {
    case incidentReported = "incident.reported"
    case incidentUpdated = "incident.updated"
    case incidentVerified = "incident.verified"
    case incidentClosed = "incident.closed"
    case incidentRetracted = "incident.retracted"
    case casualtiesReported = "casualties.reported"
    case medevacRequested = "medevac.requested"
    case medevacDispatched = "medevac.dispatched"
    case medevacCompleted = "medevac.completed"
    case electionMaterialDispatched = "election.material.dispatched"
    case electionMaterialDelivered = "election.material.delivered"
    case electionPersonnelMoved = "election.personnel.moved"
    case pollingStationStatus = "polling_station.status"
    case intelSighting = "intel.sighting"
}

/// The mission's sectors. The list is configurable per deployment; this is the default.
public enum Sectors {
    public static let defaultList = ["north", "east", "west", "centre", "bamako"]
}

/// Enumerations of the catalogue, one place for the validator, the docs and the projections.
public enum Vocabulary {
    public static let incidentCategories = [
        "ied", "indirect_fire", "ambush", "complex_attack", "suicide_attack", "armed_clash",
        "attack_on_civilians", "abduction", "crime", "protest", "other",
    ]
    public static let timePrecisions = ["minute", "hour", "day", "week", "month"]
    public static let locationPrecisions = ["exact", "near", "admin2", "admin1", "country"]
    public static let confidences = ["low", "medium", "high"]
    public static let verificationStatuses = ["unverified", "verified", "disputed"]
    public static let retractionReasons = ["duplicate", "false_report", "entered_in_error"]
    public static let casualtyGroups = ["peacekeepers", "national_forces", "civilians", "armed_groups", "other"]
    public static let casualtyKinds = ["killed", "wounded", "missing"]
    public static let medevacPriorities = ["urgent", "priority", "routine"]
    public static let medevacOutcomes = ["delivered", "aborted"]
    public static let transportModes = ["road", "helicopter", "fixed_wing", "river"]
    public static let pollingStationStatuses = ["open", "secured", "closed", "could_not_open", "attacked"]
    public static let sightingKinds = ["possible_ied", "armed_group_movement", "suspicious_vehicle", "other"]
    public static let sightingSources = ["uav", "patrol", "community", "other"]
    public static let incidentStatuses = ["open", "closed"]
}

extension EventType {
    /// Each type's wire name as bytes, in `allCases` order.
    static let wireNames: [[UInt8]] = allCases.map { Array($0.rawValue.utf8) }

    /// The type whose wire name is exactly `bytes`, without making them a `String` first.
    package init?(plainWireName bytes: UnsafeBufferPointer<UInt8>) {
        for (index, name) in Self.wireNames.enumerated() where name.withUnsafeBufferPointer({ $0.sameBytes(bytes) }) {
            self = Self.allCases[index]
            return
        }
        return nil
    }
}

import IncidentModel

/// The small integer codes the fold stores instead of strings: positions in the catalogue's
/// vocabularies (IncidentModel's `Vocabulary`), so a code means the same on every node.
enum FoldCodes {
    static func table(_ words: [String]) -> [[UInt8]] { words.map { Array($0.utf8) } }

    static let types: [EventType] = EventType.allCases
    static let typeByName: [String: UInt8] = Dictionary(
        uniqueKeysWithValues: EventType.allCases.enumerated().map { ($0.element.rawValue, UInt8($0.offset)) })
    static func code(_ type: EventType) -> UInt8 { UInt8(types.firstIndex(of: type)!) }

    /// The code of a type name, or nil for a type this version does not know. A switch over the
    /// literals compares lengths first and needs no hashing; the most frequent types come first.
    @inline(__always) static func code(ofType name: String) -> UInt8? {
        let type: EventType
        switch name {
        case "incident.reported": type = .incidentReported
        case "casualties.reported": type = .casualtiesReported
        case "incident.updated": type = .incidentUpdated
        case "incident.verified": type = .incidentVerified
        case "incident.closed": type = .incidentClosed
        case "incident.retracted": type = .incidentRetracted
        case "medevac.requested": type = .medevacRequested
        case "medevac.dispatched": type = .medevacDispatched
        case "medevac.completed": type = .medevacCompleted
        case "election.material.dispatched": type = .electionMaterialDispatched
        case "election.material.delivered": type = .electionMaterialDelivered
        case "election.personnel.moved": type = .electionPersonnelMoved
        case "polling_station.status": type = .pollingStationStatus
        case "intel.sighting": type = .intelSighting
        default: return nil
        }
        return typeCodes[type]
    }
    static let typeCodes: [EventType: UInt8] = typeByName.reduce(into: [:]) { $0[EventType(rawValue: $1.key)!] = $1.value }

    static let categories = table(Vocabulary.incidentCategories)
    /// Where an incident without a usable category counts.
    static let otherCategory = UInt8(Vocabulary.incidentCategories.firstIndex(of: "other")!)
    static let verifications = table(Vocabulary.verificationStatuses)
    static let unverified = UInt8(Vocabulary.verificationStatuses.firstIndex(of: "unverified")!)
    static let incidentStatuses = table(Vocabulary.incidentStatuses)
    static let statusOpen = UInt8(Vocabulary.incidentStatuses.firstIndex(of: "open")!)
    static let statusClosed = UInt8(Vocabulary.incidentStatuses.firstIndex(of: "closed")!)
    static let stationStatuses = table(Vocabulary.pollingStationStatuses)
    static let sightingKinds = table(Vocabulary.sightingKinds)

    /// The incident fields that are last-writer-wins registers, in register order.
    static let incidentFields: [StaticString] = [
        "category", "summary", "occurred_at", "time_precision", "location", "actors", "source", "confidence",
    ]
    static let fieldCategory = 0
    static let fieldOccurredAt = 2

    /// Casualty groups and kinds: lane `group * 3 + kind` of a `SIMD16`.
    static let casualtyGroupKeys: [StaticString] = ["peacekeepers", "national_forces", "civilians", "armed_groups", "other"]
    static let casualtyKindKeys: [StaticString] = ["killed", "wounded", "missing"]
}

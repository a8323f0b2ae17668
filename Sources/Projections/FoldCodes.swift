import IncidentModel

/// The small integer codes the fold stores instead of strings: positions in the catalogue's
/// vocabularies (IncidentModel's `Vocabulary`), so a code means the same on every node.
enum FoldCodes {
    static func table(_ words: [String]) -> [[UInt8]] { words.map { Array($0.utf8) } }

    static let types: [EventType] = EventType.allCases
    static func code(_ type: EventType) -> UInt8 { UInt8(types.firstIndex(of: type)!) }

    /// The code of a type name, or nil for a type this version does not know (see `code(ofTypeUTF8:)`).
    @inline(__always) static func code(ofType name: String) -> UInt8? {
        var name = name
        return name.withUTF8 { code(ofTypeUTF8: $0) }
    }

    /// The type code of events of a type this version does not know.
    static let unknownType = UInt8.max

    static let typeUTF8: [[UInt8]] = EventType.allCases.map { Array($0.rawValue.utf8) }

    /// The code of a type name given as UTF-8 bytes (as written in a line, without escapes), or
    /// nil for a type this version does not know. The length and a byte or two pick the one
    /// candidate, and a single comparison confirms it: no hashing, and no chain of comparisons
    /// among the types of equal length.
    @inline(__always) static func code(ofTypeUTF8 u: UnsafeBufferPointer<UInt8>) -> UInt8? {
        guard u.count >= 14, u.count <= 28 else { return nil }
        let first = u[0]
        let candidate: EventType
        switch u.count {
        case 14: candidate = .intelSighting
        case 15: candidate = .incidentClosed
        case 16: candidate = .incidentUpdated
        case 17:
            if first == UInt8(ascii: "i") {
                candidate = u[9] == UInt8(ascii: "r") ? .incidentReported : .incidentVerified
            } else {
                candidate = u[8] == UInt8(ascii: "r") ? .medevacRequested : .medevacCompleted
            }
        case 18: candidate = first == UInt8(ascii: "i") ? .incidentRetracted : .medevacDispatched
        case 19: candidate = .casualtiesReported
        case 22: candidate = .pollingStationStatus
        case 24: candidate = .electionPersonnelMoved
        case 27: candidate = .electionMaterialDelivered
        case 28: candidate = .electionMaterialDispatched
        default: return nil
        }
        let c = code(candidate)
        guard typeUTF8[Int(c)].withUnsafeBufferPointer({ $0.elementsEqual(u) }) else { return nil }
        return c
    }

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
    static let incidentFieldNames = incidentFields.map { $0.description }
    static let fieldCategory = 0
    static let fieldSummary = 1
    static let fieldOccurredAt = 2
    static let fieldTimePrecision = 3
    static let fieldLocation = 4
    static let fieldActors = 5
    static let fieldSource = 6
    static let fieldConfidence = 7

    /// Casualty groups and kinds: lane `group * 3 + kind` of a `SIMD16`.
    static let casualtyGroups = Vocabulary.casualtyGroups
    static let casualtyKinds = Vocabulary.casualtyKinds
}

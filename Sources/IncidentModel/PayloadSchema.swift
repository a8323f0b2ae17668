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

/// The schema of every event type laid out for the one pass over a payload's bytes
/// (`EventValidator.checkData`): a flat list of field specs in which the fields of each object
/// (`data`, a `location`, a `counts`, `changes`) are contiguous, the fields of a nested object
/// following later. A type's payload is checked into `slotCount` slots, one per spec of the type
/// (its `data` first), in which the walk leaves where each field's value is and what it read of
/// it; the projections fold from those slots (`slot(_:_:)` finds a field's slot by its path).
package final class PayloadLayout: @unchecked Sendable {
    package enum Kind: UInt8, Sendable {
        case string, time, enumeration, integer, number, bool, object, items, stringArray
    }

    /// One field: trivial members only, read in place by the walk.
    package struct Spec: Sendable {
        /// Its name, in `text`.
        package var name: Range32
        package var kind: Kind
        package var required: Bool
        /// `object`: whether members the fields do not name are allowed; whether an empty
        /// object is refused (`changes`).
        package var allowUnknown = true
        package var refusesEmpty = false
        /// `enumeration`: the allowed values, positions in `entries`, and their list in `valueLists`.
        package var values = Range32(0, 0)
        package var valueList: Int32 = 0
        /// `object`: its fields, positions in `specs`, and the same sorted by name, in `byName`.
        package var fields = Range32(0, 0)
        package var fieldsByName: Int32 = 0
        /// `integer`: the minimum; `number`: the bounds.
        package var minimum: Int64 = 0
        package var low: Double = 0
        package var high: Double = 0
    }

    /// A field as the walk looks keys up: its spec, its name in `text`, the name's first byte.
    package struct NameEntry: Sendable {
        package var spec: Int32
        package var name: Range32
        package var first: UInt8
    }

    /// A range of 32-bit positions, to keep `Spec` small.
    package struct Range32: Sendable {
        package var lower: Int32
        package var upper: Int32
        package init(_ lower: Int, _ upper: Int) {
            self.lower = Int32(lower)
            self.upper = Int32(upper)
        }
        package var range: Range<Int> { Int(lower)..<Int(upper) }
        package var count: Int { Int(upper - lower) }
    }

    package let specs: [Spec]
    /// The names of the fields and the allowed values, as bytes, one after the other.
    package let text: [UInt8]
    package let entries: [Range32]
    /// For each object spec, its fields sorted by name (from `fieldsByName`).
    package let byName: [NameEntry]
    /// For messages only: each spec's path (`data.location.name`), each enumeration's values.
    package let paths: [String]
    package let valueLists: [String]
    /// Per event type (by `EventType.allCases` position): the spec of its `data`; one more at
    /// the end, `specs.count`.
    package let roots: [Int]
    /// The largest `slotCount` of any type.
    package let maximumSlots: Int
    /// The tables above in memory of their own, read by the walk without reference counting or
    /// bounds checks; allocated once, for the one shared layout, and never freed.
    let specTable: UnsafeMutableBufferPointer<Spec>
    let textTable: UnsafeMutableBufferPointer<UInt8>
    let entryTable: UnsafeMutableBufferPointer<Range32>
    let byNameTable: UnsafeMutableBufferPointer<NameEntry>

    package static let shared = PayloadLayout()
    static let types = EventType.allCases

    init() {
        var b = Builder()
        var roots: [Int] = []
        for type in EventType.allCases {
            let first = b.specs.count
            roots.append(first)
            b.specs.append(Spec(name: Range32(0, 0), kind: .object, required: true))
            b.paths.append("data")
            let fields = b.place(PayloadSchema.fields(for: type), under: "data")
            b.specs[first].fields = Range32(fields.lowerBound, fields.upperBound)
        }
        roots.append(b.specs.count)
        // Each object's fields sorted by name, for the walk's merge with the sorted keys.
        var byName: [NameEntry] = []
        for i in b.specs.indices where b.specs[i].kind == .object {
            b.specs[i].fieldsByName = Int32(byName.count)
            let sorted = b.specs[i].fields.range.sorted { x, y in
                b.text[b.specs[x].name.range].lexicographicallyPrecedes(b.text[b.specs[y].name.range])
            }
            byName += sorted.map { NameEntry(spec: Int32($0), name: b.specs[$0].name, first: b.text[b.specs[$0].name.range].first!) }
        }
        specs = b.specs
        text = b.text
        entries = b.entries
        self.byName = byName
        paths = b.paths
        valueLists = b.valueLists
        self.roots = roots
        maximumSlots = zip(roots.dropFirst(), roots).map { $0 - $1 }.max()!
        specTable = Self.table(specs)
        textTable = Self.table(text)
        entryTable = Self.table(entries)
        byNameTable = Self.table(byName)
    }

    static func table<T>(_ array: [T]) -> UnsafeMutableBufferPointer<T> {
        let table = UnsafeMutableBufferPointer<T>.allocate(capacity: max(array.count, 1))
        _ = table.initialize(from: array)
        return table
    }

    struct Builder {
        var specs: [Spec] = []
        var text: [UInt8] = []
        var entries: [Range32] = []
        var paths: [String] = []
        var valueLists: [String] = []

        /// Appends `fields` contiguously, then the fields of each nested object; returns their range.
        mutating func place(_ fields: [FieldSpec], under path: String) -> Range<Int> {
            let start = specs.count
            for f in fields {
                let name = text.count
                text.append(contentsOf: f.name.utf8)
                var spec = Spec(name: Range32(name, text.count), kind: .string, required: f.required)
                switch f.kind {
                case .string: spec.kind = .string
                case .time: spec.kind = .time
                case .enumeration(let allowed):
                    spec.kind = .enumeration
                    let first = entries.count
                    for value in allowed {
                        let at = text.count
                        text.append(contentsOf: value.utf8)
                        entries.append(Range32(at, text.count))
                    }
                    spec.values = Range32(first, entries.count)
                    spec.valueList = Int32(valueLists.count)
                    valueLists.append(allowed.joined(separator: ", "))
                case .integer(let minimum):
                    spec.kind = .integer
                    spec.minimum = minimum
                case .number(let low, let high):
                    spec.kind = .number
                    spec.low = low
                    spec.high = high
                case .bool: spec.kind = .bool
                case .location, .counts, .changes: spec.kind = .object
                case .items: spec.kind = .items
                case .stringArray: spec.kind = .stringArray
                }
                specs.append(spec)
                paths.append("\(path).\(f.name)")
            }
            for (i, f) in fields.enumerated() {
                let path = "\(path).\(f.name)"
                switch f.kind {
                case .location:
                    let placed = place(PayloadSchema.locationFields, under: path)
                    specs[start + i].fields = Range32(placed.lowerBound, placed.upperBound)
                case .counts:
                    let placed = place(Vocabulary.casualtyKinds.map { FieldSpec($0, .integer(min: 0)) }, under: path)
                    specs[start + i].fields = Range32(placed.lowerBound, placed.upperBound)
                    specs[start + i].allowUnknown = false
                case .changes(let changed):
                    let placed = place(changed, under: path)
                    specs[start + i].fields = Range32(placed.lowerBound, placed.upperBound)
                    specs[start + i].allowUnknown = false
                    specs[start + i].refusesEmpty = true
                default:
                    break
                }
            }
            return start..<(start + fields.count)
        }
    }

    /// The position of `type` in `EventType.allCases`.
    package static func index(of type: EventType) -> Int { types.firstIndex(of: type)! }

    /// The slots a payload of the type at `typeIndex` is checked into.
    package func slotCount(typeIndex: Int) -> Int { roots[typeIndex + 1] - roots[typeIndex] }

    /// The slot of the field at `path` (`"changes.status"`) of `type`'s payload, or nil.
    package func slot(_ type: EventType, _ path: String) -> Int? {
        let root = roots[Self.index(of: type)]
        var spec = root
        for part in path.split(separator: ".") {
            guard let next = specs[spec].fields.range.first(where: { text[specs[$0].name.range].elementsEqual(part.utf8) }) else {
                return nil
            }
            spec = next
        }
        return spec - root
    }
}

/// Where a field's value is in a payload and what the check read of it: for a string, whether
/// it holds an escape (`value` 1); an enumeration, the position of its value in the allowed
/// list; a time, its milliseconds; an integer or a boolean, its value. `start` is -1 when the
/// field is absent.
package struct PayloadSlot: Sendable {
    package var start: Int32 = -1
    package var end: Int32 = 0
    package var value: Int64 = 0

    package init() {}

    package var isPresent: Bool { start >= 0 }
    package var range: Range<Int> { Int(start)..<Int(end) }
}

/// Checks a client's new event (`type`, `sector`, `data`) against the catalogue.
///
/// Every refusal names the field by its path (`data.location.name: required`), so a field office
/// can fix the one thing that is wrong. Nothing is written for a refused event.
public struct EventValidator: Sendable {
    public let sectors: [String]

    public init(sectors: [String] = Sectors.defaultList) {
        self.sectors = sectors
    }

    /// A refusal: the path of the offending field and why.
    public struct Failure: Error, Equatable, Sendable, CustomStringConvertible {
        public var field: String
        public var reason: String
        public init(field: String, reason: String) {
            self.field = field
            self.reason = reason
        }
        public var description: String { "\(field): \(reason)" }
    }

    /// Validates one `{"type","sector","data"}` object and returns the event ready to be stored.
    public func validate(_ object: JSONValue) throws(Failure) -> NewEvent {
        guard let members = object.objectMembers else {
            throw Failure(field: "event", reason: "expected object, got \(object.kindName)")
        }
        for m in members where !["type", "sector", "data"].contains(m.key) {
            throw Failure(field: m.key, reason: "unknown field (the node sets the envelope itself)")
        }
        guard let typeValue = object["type"] else { throw Failure(field: "type", reason: "required") }
        guard let typeName = typeValue.stringValue else {
            throw Failure(field: "type", reason: "expected string, got \(typeValue.kindName)")
        }
        guard let type = EventType(rawValue: typeName) else {
            throw Failure(field: "type", reason: "unknown event type \"\(typeName)\"")
        }
        guard let sectorValue = object["sector"] else { throw Failure(field: "sector", reason: "required") }
        guard let sector = sectorValue.stringValue else {
            throw Failure(field: "sector", reason: "expected string, got \(sectorValue.kindName)")
        }
        guard sectors.contains(sector) else {
            throw Failure(field: "sector", reason: "unknown sector \"\(sector)\" (known: \(sectors.joined(separator: ", ")))")
        }
        guard let data = object["data"] else { throw Failure(field: "data", reason: "required") }
        try validate(data: data, type: type)
        return NewEvent(type: type, sector: sector, data: data)
    }

    public func validate(data: JSONValue, type: EventType) throws(Failure) {
        try checkObject(data, path: "data", fields: PayloadSchema.fields(for: type), allowUnknown: true)
    }

    func checkObject(_ value: JSONValue, path: String, fields: [FieldSpec], allowUnknown: Bool) throws(Failure) {
        guard let members = value.objectMembers else {
            throw Failure(field: path, reason: "expected object, got \(value.kindName)")
        }
        for spec in fields {
            guard let v = value[spec.name] else {
                if spec.required { throw Failure(field: "\(path).\(spec.name)", reason: "required") }
                continue
            }
            try check(v, path: "\(path).\(spec.name)", kind: spec.kind)
        }
        if !allowUnknown {
            for m in members where !fields.contains(where: { $0.name == m.key }) {
                throw Failure(field: "\(path).\(m.key)", reason: "unknown field")
            }
        }
    }

    func check(_ v: JSONValue, path: String, kind: FieldSpec.Kind) throws(Failure) {
        func wrongType(_ expected: String) -> Failure {
            Failure(field: path, reason: "expected \(expected), got \(v.kindName)")
        }
        switch kind {
        case .string:
            guard let s = v.stringValue else { throw wrongType("string") }
            guard !s.isEmpty else { throw Failure(field: path, reason: "must not be empty") }
        case .time:
            guard let s = v.stringValue else { throw wrongType("string") }
            guard RFC3339.parseMillis(s) != nil else {
                throw Failure(field: path, reason: "expected an RFC 3339 UTC time like 2026-11-29T04:00:00Z, got \"\(s)\"")
            }
        case .enumeration(let allowed):
            guard let s = v.stringValue else { throw wrongType("string") }
            guard allowed.contains(s) else {
                throw Failure(field: path, reason: "unknown value \"\(s)\" (allowed: \(allowed.joined(separator: ", ")))")
            }
        case .integer(let minimum):
            guard case .number = v else { throw wrongType("integer") }
            guard let n = v.integerValue else { throw Failure(field: path, reason: "expected an integer") }
            guard n >= minimum else {
                throw Failure(field: path, reason: minimum == 0 ? "must not be negative" : "must be at least \(minimum)")
            }
        case .number(let lo, let hi):
            guard case .number = v, let d = v.doubleValue else { throw wrongType("number") }
            guard d >= lo && d <= hi else { throw Failure(field: path, reason: "must be between \(lo) and \(hi)") }
        case .bool:
            guard case .bool = v else { throw wrongType("boolean") }
        case .location:
            try checkObject(v, path: path, fields: PayloadSchema.locationFields, allowUnknown: true)
        case .counts:
            let fields = Vocabulary.casualtyKinds.map { FieldSpec($0, .integer(min: 0)) }
            try checkObject(v, path: path, fields: fields, allowUnknown: false)
        case .items:
            guard let members = v.objectMembers else { throw wrongType("object") }
            guard !members.isEmpty else { throw Failure(field: path, reason: "must name at least one item") }
            for m in members { try check(m.value, path: "\(path).\(m.key)", kind: .integer(min: 0)) }
        case .stringArray:
            guard let elements = v.arrayValue else { throw wrongType("array of strings") }
            for (i, e) in elements.enumerated() { try check(e, path: "\(path)[\(i)]", kind: .string) }
        case .changes(let fields):
            guard let members = v.objectMembers else { throw wrongType("object") }
            guard !members.isEmpty else { throw Failure(field: path, reason: "must change at least one field") }
            try checkObject(v, path: path, fields: fields, allowUnknown: false)
        }
    }
}

/// A validated event as a client asked for it, before the node adds the envelope.
public struct NewEvent: Sendable {
    public var type: EventType
    public var sector: String
    public var data: JSONValue

    public init(type: EventType, sector: String, data: JSONValue) {
        self.type = type
        self.sector = sector
        self.data = data
    }

    /// The canonical bytes of `data`, computed once by the caller so the store's writer only
    /// copies them into the line.
    public var canonicalData: [UInt8] { data.canonicalBytes }
}

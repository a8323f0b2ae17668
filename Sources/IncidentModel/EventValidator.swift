#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks an event (`type`, `sector`, `data`) against the catalogue: the one implementation of
/// the rules, for a client's new event and for every event the projections fold.
///
/// Every refusal names the field by its path (`data.location.name: required`), so a field office
/// can fix the one thing that is wrong. Nothing is written for a refused event; a stored event
/// that fails (replicated from a peer, or brought in a bundle) is quarantined by the projections
/// (docs/EVENTS.md).
///
/// The checks, in order: the type is known (`checkType`), the sector is configured
/// (`checkSector`), then `data` (`checkData`). `data` is checked as bytes, in one pass over its
/// canonical form: a new event's `data` is encoded canonically first (as it will be stored), or,
/// when it arrives canonical already, checked in that one pass as it came
/// (`canonicalPayloadEnd`); a stored event's `data` must already be canonical, as every node
/// writes it. So a stored event passes exactly when a client's append of the same event would
/// have been accepted and stored with these bytes.
public struct EventValidator: Sendable {
    public let sectors: [String]
    /// `sectors` as UTF-8, in the same order, to match a sector's bytes.
    let sectorBytes: [[UInt8]]

    public init(sectors: [String] = Sectors.defaultList) {
        self.sectors = sectors
        sectorBytes = sectors.map { Array($0.utf8) }
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
        try object.canonicalBytes.withUnsafeBufferPointer { bytes throws(Failure) in
            try validate(canonicalEvent: bytes, 0..<bytes.count)
        }
    }

    /// Validates the event object at `range` of canonical JSON `bytes` (an append request in the
    /// scanner's canonical form, `JSONParser.canonical`): the one implementation of the event's
    /// checks, whichever way the request was read. Members are looked at in key order, so an
    /// object with several unknown fields is refused naming the first of them in that order.
    public func validate(canonicalEvent bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) throws(Failure) -> NewEvent {
        let p = PayloadReader(UnsafeBufferPointer(start: bytes.baseAddress, count: range.upperBound))
        guard bytes[range.lowerBound] == UInt8(ascii: "{") else {
            throw Failure(field: "event", reason: "expected object, got \(p.kindName(at: range.lowerBound))")
        }
        var typeValue: Range<Int>? = nil
        var sectorValue: Range<Int>? = nil
        var dataValue: Range<Int>? = nil
        var unknown: String? = nil
        let end = range.upperBound
        let walked = try? p.members(of: range.lowerBound, end, notCanonical: { _ in JSONParser.Error(offset: 0, reason: "not canonical") }) {
            key, simple, v throws(JSONParser.Error) in
            let valueEnd = try JSONParser.skipValue(in: p.bytes, from: v)
            let name = simple ? String(decoding: p.raw(key), as: UTF8.self) : p.decodedString((key.lowerBound - 1)..<(key.upperBound + 1))
            switch name {
            case "type": typeValue = v..<valueEnd
            case "sector": sectorValue = v..<valueEnd
            case "data": dataValue = v..<valueEnd
            default: if unknown == nil { unknown = name }
            }
            return valueEnd
        }
        guard walked != nil else { throw Failure(field: "event", reason: "expected object, got malformed bytes") }
        if let unknown { throw Failure(field: unknown, reason: "unknown field (the node sets the envelope itself)") }
        func string(_ field: String, _ value: Range<Int>?) throws(Failure) -> String {
            guard let value else { throw Failure(field: field, reason: "required") }
            guard bytes[value.lowerBound] == UInt8(ascii: "\"") else {
                throw Failure(field: field, reason: "expected string, got \(p.kindName(at: value.lowerBound))")
            }
            let scanned = try? p.string(at: value.lowerBound, value.upperBound)
            if let scanned, !scanned.escaped { return String(decoding: p.contents(value), as: UTF8.self) }
            return p.decodedString(value)
        }
        let type = try Self.checkType(try string("type", typeValue))
        let sector = try string("sector", sectorValue)
        try checkSector(sector)
        guard let dataValue else { throw Failure(field: "data", reason: "required") }
        let canonical = Array(UnsafeBufferPointer(rebasing: bytes[dataValue]))
        try Self.checkData(canonical, type: type)
        return NewEvent(type: type, sector: sector, canonicalData: canonical)
    }

    /// The event of `type` whose `sector` is the given string contents, plain (no escape, so its
    /// bytes are its value), and whose `data` is already in canonical form; nil when any check
    /// refuses it. The checks of `validate(canonicalEvent:)`, for a reader that took the event's
    /// members apart itself (`ClientRequest.readEvent`, which matched the type's wire name as
    /// bytes) and leaves every refusal to the reading that words it. The sector is matched
    /// against the configured list as bytes, and the list's own string is kept. `checked` says
    /// that `data` passed `canonicalPayloadEnd` for this type already, and is not walked again.
    package func accepted(
        type: EventType, plainSector sector: UnsafeBufferPointer<UInt8>, canonicalData data: [UInt8], checked: Bool
    ) -> NewEvent? {
        guard let index = sectorBytes.firstIndex(where: { $0.withUnsafeBufferPointer { $0.sameBytes(sector) } }) else { return nil }
        if !checked {
            do {
                try Self.checkData(data, type: type)
            } catch {
                return nil
            }
        }
        return NewEvent(type: type, sector: sectors[index], canonicalData: data)
    }

    /// The index past the payload of an event of `type` that starts at `start` of `bytes`, when
    /// the payload is already in canonical form as a client sent it and passes `checkData`; nil
    /// otherwise, and the caller then writes the payload's canonical form and checks that, as for
    /// any payload (which also words a refusal). One walk instead of the writer's pass and the
    /// walk after it, for a payload that arrives canonical, as this project's clients send it.
    ///
    /// The walk takes its bytes to be JSON already checked, so what it does not look at is
    /// checked here, and nil means "not shown canonical", never a refusal:
    /// - no control character and valid UTF-8 in the whole payload, looked at once it has ended
    ///   (a canonical payload has no byte below 0x20 anywhere, and with its strings between
    ///   ASCII quotes, the whole is valid UTF-8 exactly when each string is);
    /// - no container under a member the schema does not name (`PayloadWalk.strict`): the walk
    ///   checks such a container by parsing it from its own start, so its nesting would count
    ///   from there, not from the request as the writer counts it.
    /// The rest (no whitespace, keys strictly in order, only the minimal escapes, every value's
    /// grammar) is the walk's own check of canonical form. `ParallelAppendTests`, the property
    /// tests and the `request` fuzz harness hold the result to the writer's pass and the walk.
    package static func canonicalPayloadEnd(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, type: EventType) -> Int? {
        let layout = PayloadLayout.shared
        let typeIndex = PayloadLayout.index(of: type)
        let root = layout.roots[typeIndex]
        let end: Int? = withUnsafeTemporaryAllocation(of: PayloadSlot.self, capacity: layout.maximumSlots) { slots in
            slots.baseAddress!.initialize(repeating: PayloadSlot(), count: layout.slotCount(typeIndex: typeIndex))
            let walk = PayloadWalk(
                p: PayloadReader(bytes), start: start, end: bytes.count, layout: layout, root: root, slots: slots.baseAddress!, strict: true)
            return try? walk.value(root, at: start)
        }
        guard let end, JSONParser.isPlainText(UnsafeBufferPointer(rebasing: bytes[start..<end])) else { return nil }
        return end
    }

    /// Checks `data` of an event of `type`.
    public func validate(data: JSONValue, type: EventType) throws(Failure) {
        try Self.checkData(data.canonicalBytes, type: type)
    }

    /// The event type named `name`, or the refusal of an unknown one.
    public static func checkType(_ name: String) throws(Failure) -> EventType {
        guard let type = EventType(rawValue: name) else {
            throw Failure(field: "type", reason: "unknown event type \"\(name)\"")
        }
        return type
    }

    /// Refuses a sector that is not configured.
    public func checkSector(_ sector: String) throws(Failure) {
        guard sectors.contains(sector) else {
            throw Failure(field: "sector", reason: "unknown sector \"\(sector)\" (known: \(sectors.joined(separator: ", ")))")
        }
    }

    /// Checks canonical `data` bytes of an event of `type`.
    static func checkData(_ data: [UInt8], type: EventType) throws(Failure) {
        let failure: Failure? = data.withUnsafeBufferPointer { bytes in
            withUnsafeTemporaryAllocation(of: PayloadSlot.self, capacity: PayloadLayout.shared.maximumSlots) { slots -> Failure? in
                do throws(Failure) {
                    try checkData(PayloadReader(bytes), 0..<bytes.count, typeIndex: PayloadLayout.index(of: type), into: slots.baseAddress!)
                    return nil
                } catch {
                    return error
                }
            }
        }
        if let failure { throw failure }
    }

    /// Checks the payload at `data` (the object, braces included) of an event whose type is at
    /// `typeIndex` in `EventType.allCases`, in one pass; `slots` (room for
    /// `PayloadLayout.shared.slotCount`) receives where each field is and what was read of it,
    /// for the projections. The bytes must be canonical JSON; anything else is refused as
    /// `data: not in canonical form`.
    package static func checkData(
        _ reader: PayloadReader, _ data: Range<Int>, typeIndex: Int, into slots: UnsafeMutablePointer<PayloadSlot>
    ) throws(Failure) {
        let layout = PayloadLayout.shared
        let root = layout.roots[typeIndex]
        slots.initialize(repeating: PayloadSlot(), count: layout.slotCount(typeIndex: typeIndex))
        let walk = PayloadWalk(p: reader, start: data.lowerBound, end: data.upperBound, layout: layout, root: root, slots: slots)
        let end = try walk.value(root, at: data.lowerBound)
        guard end == data.upperBound else { throw walk.notCanonical(.init(offset: end)) }
    }
}

/// One check of a payload against its type's specs (`EventValidator.checkData`).
struct PayloadWalk {
    typealias Failure = EventValidator.Failure
    let p: PayloadReader
    let start: Int
    let end: Int
    let layout: PayloadLayout
    let root: Int
    let slots: UnsafeMutablePointer<PayloadSlot>
    /// Refuses (as out of canonical form) any container under a member the schema does not
    /// name, for a client's bytes (`EventValidator.canonicalPayloadEnd`).
    let strict: Bool
    let specs: UnsafeMutablePointer<PayloadLayout.Spec>
    let text: UnsafeMutablePointer<UInt8>

    init(
        p: PayloadReader, start: Int, end: Int, layout: PayloadLayout, root: Int, slots: UnsafeMutablePointer<PayloadSlot>,
        strict: Bool = false
    ) {
        self.p = p
        self.start = start
        self.end = end
        self.layout = layout
        self.root = root
        self.slots = slots
        self.strict = strict
        specs = layout.specTable.baseAddress!
        text = layout.textTable.baseAddress!
    }

    func notCanonical(_ e: PayloadReader.NotCanonical) -> Failure {
        Failure(field: "data", reason: "not in canonical form (byte \(e.offset - start) of data)")
    }

    func wrongType(_ spec: Int, _ at: Int, _ expected: String) -> Failure {
        Failure(field: layout.paths[spec], reason: "expected \(expected), got \(p.kindName(at: at))")
    }

    @inline(__always) func byte(_ i: Int) -> UInt8 { i < end ? p.bytes[i] : 0 }
    @inline(__always) func isNumber(_ i: Int) -> Bool { byte(i) == UInt8(ascii: "-") || (byte(i) >= 0x30 && byte(i) <= 0x39) }

    @inline(__always) func string(_ i: Int) throws(Failure) -> PayloadReader.ScannedString {
        do { return try p.string(at: i, end) } catch { throw notCanonical(error) }
    }

    @inline(__always) func number(_ i: Int) throws(Failure) -> Int {
        do { return try p.number(at: i, end) } catch { throw notCanonical(error) }
    }

    func anyValue(_ i: Int) throws(Failure) -> Int {
        if strict, byte(i) == UInt8(ascii: "{") || byte(i) == UInt8(ascii: "[") { throw notCanonical(.init(offset: i)) }
        do { return try p.anyValue(at: i, end) } catch { throw notCanonical(error) }
    }

    /// The bytes of a name or an allowed value in the layout's text.
    @inline(__always) func text(_ r: PayloadLayout.Range32) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: text + Int(r.lower), count: r.count)
    }

    /// How the name of spec `f` compares with the key `key`: -1 before it, 0 equal, 1 after.
    @inline(__always) func compare(_ f: Int, _ key: Range<Int>) -> Int {
        let name = text(specs[f].name)
        let n = min(name.count, key.count)
        var i = 0
        while i < n {
            let a = name[i]
            let b = p.bytes[key.lowerBound + i]
            if a != b { return a < b ? -1 : 1 }
            i += 1
        }
        return name.count == key.count ? 0 : (name.count < key.count ? -1 : 1)
    }

    /// Whether the bytes at `a` begin with `name`: field names are short, a call to memcmp costs
    /// more than the loop.
    @inline(__always) static func same(_ a: UnsafePointer<UInt8>, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        while i < name.count {
            if a[i] != name[i] { return false }
            i += 1
        }
        return true
    }

    /// The decoded key whose bytes (between the quotes) are `key`.
    func keyName(_ key: Range<Int>) -> String { p.decodedString((key.lowerBound - 1)..<(key.upperBound + 1)) }

    /// Checks the value of field `spec` starting at `i` and records it in the field's slot;
    /// returns the index past it.
    func value(_ spec: Int, at i: Int) throws(Failure) -> Int {
        let s = specs + spec
        var slot = PayloadSlot()
        slot.start = Int32(truncatingIfNeeded: i)
        let e: Int
        switch s.pointee.kind {
        case .string:
            guard byte(i) == UInt8(ascii: "\"") else { throw wrongType(spec, i, "string") }
            let str = try string(i)
            guard str.end - i > 2 else { throw Failure(field: layout.paths[spec], reason: "must not be empty") }
            e = str.end
            slot.value = str.escaped ? 1 : 0
        case .time:
            guard byte(i) == UInt8(ascii: "\"") else { throw wrongType(spec, i, "string") }
            let str = try string(i)
            guard !str.escaped, let millis = RFC3339.parseMillis(utf8: p.contents(i..<str.end)) else {
                throw Failure(
                    field: layout.paths[spec],
                    reason: "expected an RFC 3339 UTC time like 2026-11-29T04:00:00Z, got \"\(p.decodedString(i..<str.end))\"")
            }
            e = str.end
            slot.value = millis
        case .enumeration:
            guard byte(i) == UInt8(ascii: "\"") else { throw wrongType(spec, i, "string") }
            let str = try string(i)
            // The allowed values need no escapes, so a string with one is none of them.
            var found = -1
            if !str.escaped {
                let contents = (i + 1)..<(str.end - 1)
                let values = s.pointee.values
                for n in 0..<values.count where p.matches(contents, text(layout.entryTable[Int(values.lower) + n])) {
                    found = n
                    break
                }
            }
            guard found >= 0 else {
                throw Failure(
                    field: layout.paths[spec],
                    reason: "unknown value \"\(p.decodedString(i..<str.end))\" (allowed: \(layout.valueLists[Int(s.pointee.valueList)]))")
            }
            e = str.end
            slot.value = Int64(found)
        case .integer:
            e = try integer(at: i, minimum: s.pointee.minimum, path: { layout.paths[spec] })
            slot.value = p.integer(i..<e) ?? 0
        case .number:
            guard isNumber(i) else { throw wrongType(spec, i, "number") }
            e = try number(i)
            guard p.number(i..<e, isIn: s.pointee.low, s.pointee.high) else {
                throw Failure(field: layout.paths[spec], reason: "must be between \(s.pointee.low) and \(s.pointee.high)")
            }
        case .bool:
            guard byte(i) == UInt8(ascii: "t") || byte(i) == UInt8(ascii: "f") else { throw wrongType(spec, i, "boolean") }
            do { e = try p.boolean(at: i, end) } catch { throw notCanonical(error) }
            slot.value = byte(i) == UInt8(ascii: "t") ? 1 : 0
        case .object:
            e = try object(spec, at: i)
        case .items:
            e = try items(spec, at: i)
        case .stringArray:
            e = try stringArray(spec, at: i)
        }
        slot.end = Int32(truncatingIfNeeded: e)
        slots[spec - root] = slot
        return e
    }

    /// An integer at least `minimum`; returns the index past it.
    func integer(at i: Int, minimum: Int64, path: () -> String) throws(Failure) -> Int {
        guard isNumber(i) else { throw Failure(field: path(), reason: "expected integer, got \(p.kindName(at: i))") }
        let e = try number(i)
        guard let n = p.integer(i..<e) else { throw Failure(field: path(), reason: "expected an integer") }
        guard n >= minimum else {
            throw Failure(field: path(), reason: minimum == 0 ? "must not be negative" : "must be at least \(minimum)")
        }
        return e
    }

    /// An object of the fields of `spec`: each present field checked, then the first (in the
    /// fields' order) that is missing though required or that fails is refused, then a member
    /// the fields do not name when the spec does not allow others. Its form is checked as
    /// `PayloadReader.members` checks it.
    ///
    /// Keys come in increasing order (canonical form) and the fields are kept sorted by name
    /// too, so a key is first tried as the name of one of the fields not met yet, in that order:
    /// a field's name followed by the closing quote is that key, and its bytes were compared
    /// once. Only another key is scanned and ordered against the one before it.
    func object(_ spec: Int, at i: Int) throws(Failure) -> Int {
        guard byte(i) == UInt8(ascii: "{") else { throw wrongType(spec, i, "object") }
        let s = specs[spec]
        let byName = layout.byNameTable.baseAddress! + Int(s.fieldsByName)
        let fieldCount = s.fields.count
        let bytes = p.bytes.baseAddress!
        var next = 0
        var failed = Int.max
        var failure: Failure? = nil
        var unknown: Range<Int>? = nil
        // The last key, when it was not a field's (a field's keys are ordered by the merge).
        var previous: Range<Int>? = nil
        var reencode = false
        var count = 0
        var at = i + 1
        if byte(at) == UInt8(ascii: "}") {
            at += 1
        } else {
            while true {
                guard byte(at) == UInt8(ascii: "\"") else { throw notCanonical(.init(offset: at)) }
                var field = -1
                var keyEnd = 0
                var c = next
                let first = byte(at + 1)
                while c < fieldCount {
                    let candidate = byName + c
                    let close = at + 1 + candidate.pointee.name.count
                    if candidate.pointee.first == first, close < end, bytes[close] == UInt8(ascii: "\""),
                        Self.same(bytes + at + 1, text(candidate.pointee.name))
                    {
                        field = Int(candidate.pointee.spec)
                        keyEnd = close + 1
                        next = c + 1
                        break
                    }
                    c += 1
                }
                let key: Range<Int>
                if field >= 0 {
                    key = (at + 1)..<(keyEnd - 1)
                    if let previous, !p.precedes(previous, key) { throw notCanonical(.init(offset: at)) }
                    previous = nil
                } else {
                    let scanned: PayloadReader.ScannedString
                    do { scanned = try p.key(at: at, end) } catch { throw notCanonical(error) }
                    keyEnd = scanned.end
                    key = (at + 1)..<(keyEnd - 1)
                    if scanned.simple {
                        // After the fields it passed: the merge cursor marks where it stands.
                        if let previous, !p.precedes(previous, key) { throw notCanonical(.init(offset: at)) }
                        if next > 0, compare(Int(byName[next - 1].spec), key) >= 0 { throw notCanonical(.init(offset: at)) }
                        previous = key
                    } else {
                        reencode = true
                        previous = nil
                    }
                    if !s.allowUnknown, unknown == nil { unknown = key }
                }
                count += 1
                guard count <= JSONParser.maximumMembers, byte(keyEnd) == UInt8(ascii: ":") else {
                    throw notCanonical(.init(offset: keyEnd))
                }
                let v = keyEnd + 1
                if field >= 0 {
                    do throws(Failure) {
                        at = try value(field, at: v)
                    } catch {
                        if field < failed {
                            failed = field
                            failure = error
                        }
                        at = try anyValue(v)
                    }
                } else {
                    at = try anyValue(v)
                }
                if byte(at) == UInt8(ascii: ",") {
                    at += 1
                    continue
                }
                guard byte(at) == UInt8(ascii: "}") else { throw notCanonical(.init(offset: at)) }
                at += 1
                break
            }
            if reencode {
                do { try p.checkReencoded(i..<at) } catch { throw notCanonical(error) }
            }
        }
        if count == 0, s.refusesEmpty { throw Failure(field: layout.paths[spec], reason: "must change at least one field") }
        for f in s.fields.range {
            if f == failed, let failure { throw failure }
            if specs[f].required, !slots[f - root].isPresent { throw Failure(field: layout.paths[f], reason: "required") }
        }
        if let unknown { throw Failure(field: "\(layout.paths[spec]).\(keyName(unknown))", reason: "unknown field") }
        return at
    }

    /// Item name → integer ≥ 0, at least one item.
    func items(_ spec: Int, at i: Int) throws(Failure) -> Int {
        guard byte(i) == UInt8(ascii: "{") else { throw wrongType(spec, i, "object") }
        var failure: Failure? = nil
        var count = 0
        let e = try p.members(of: i, end, notCanonical: notCanonical) { key, _, v throws(Failure) in
            count += 1
            guard failure == nil else { return try anyValue(v) }
            do throws(Failure) {
                return try integer(at: v, minimum: 0, path: { "\(layout.paths[spec]).\(keyName(key))" })
            } catch {
                failure = error
                return try anyValue(v)
            }
        }
        guard count > 0 else { throw Failure(field: layout.paths[spec], reason: "must name at least one item") }
        if let failure { throw failure }
        return e
    }

    /// An array of non-empty strings.
    func stringArray(_ spec: Int, at i: Int) throws(Failure) -> Int {
        guard byte(i) == UInt8(ascii: "[") else { throw wrongType(spec, i, "array of strings") }
        var j = i + 1
        if byte(j) == UInt8(ascii: "]") { return j + 1 }
        var failure: Failure? = nil
        var n = 0
        while true {
            if byte(j) != UInt8(ascii: "\"") {
                if failure == nil { failure = Failure(field: "\(layout.paths[spec])[\(n)]", reason: "expected string, got \(p.kindName(at: j))") }
                j = try anyValue(j)
            } else {
                let str = try string(j)
                if failure == nil, str.end - j == 2 { failure = Failure(field: "\(layout.paths[spec])[\(n)]", reason: "must not be empty") }
                j = str.end
            }
            n += 1
            if byte(j) == UInt8(ascii: ",") {
                j += 1
                continue
            }
            guard byte(j) == UInt8(ascii: "]") else { throw notCanonical(.init(offset: j)) }
            if let failure { throw failure }
            return j + 1
        }
    }
}

/// A validated event as a client asked for it, before the node adds the envelope.
public struct NewEvent: Sendable {
    public var type: EventType
    public var sector: String
    /// The canonical bytes of `data` (what is checked and stored), so the store's writer only
    /// copies them into the line.
    public let canonicalData: [UInt8]

    public init(type: EventType, sector: String, data: JSONValue) {
        self.init(type: type, sector: sector, canonicalData: data.canonicalBytes)
    }

    init(type: EventType, sector: String, canonicalData: [UInt8]) {
        self.type = type
        self.sector = sector
        self.canonicalData = canonicalData
    }

    /// `data` as a tree (parsed from the canonical bytes: for rare readers, not the append path).
    public var data: JSONValue { (try? JSONParser.parse(canonicalData)) ?? .null }

    /// The string member `name` of `data`, read in place (e.g. `incident_id`), or nil.
    public func dataString(_ name: StaticString) -> String? {
        canonicalData.withUnsafeBufferPointer { bytes in
            let p = PayloadReader(bytes)
            guard let value = p.member(name, of: 0..<bytes.count), bytes[value.lowerBound] == UInt8(ascii: "\"") else { return nil }
            return p.decodedString(value)
        }
    }
}

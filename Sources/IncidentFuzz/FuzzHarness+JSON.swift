import IncidentModel

extension FuzzHarness {
    /// `EventValidator.validate` on the line as a `{"type","sector","data"}` object, on its
    /// `event` member and each element of its `events` array (as in an append), and — so that
    /// payload checks are reached without the fuzzer having to guess a type name first — on the
    /// line as the `data` of every event type. What is accepted must stay valid after its
    /// canonical encoding, which is what gets stored.
    static func validator(_ line: UnsafeBufferPointer<UInt8>, accepted: inout Set<String>) throws(PropertyViolation) {
        guard let json = try? JSONParser.parse(buffer: line), json.objectMembers != nil else { return }
        let validator = EventValidator()
        var objects = [json]
        if let event = json["event"] { objects.append(event) }
        if let events = json["events"]?.arrayValue { objects += events }
        for object in objects {
            guard let event = try? validator.validate(object) else { continue }
            accepted.insert("validator.\(event.type.rawValue)")
            try require(event.canonicalData == object["data"]?.canonicalBytes, "validator", "data changed by validation")
            try revalidate(event.data, type: event.type, validator)
        }
        for type in EventType.allCases {
            guard (try? validator.validate(data: json, type: type)) != nil else { continue }
            try revalidate(json, type: type, validator)
        }
    }

    private static func revalidate(_ data: JSONValue, type: EventType, _ validator: EventValidator)
        throws(PropertyViolation)
    {
        let canonical = data.canonicalBytes
        guard let reparsed = try? JSONParser.parse(canonical) else {
            throw PropertyViolation(harness: "validator", message: "canonical data does not parse: \(show(canonical))")
        }
        do {
            try validator.validate(data: reparsed, type: type)
        } catch {
            throw PropertyViolation(
                harness: "validator", message: "\(type.rawValue) data invalid after canonical encoding: \(error)")
        }
    }

    /// `JSONParser` against itself and `JSONWriter.canonical`: `skipValue` accepts exactly what
    /// `parse` accepts, duplicate keys aside (it does not look for them); the canonical form
    /// parses back to the same value with sorted keys and is a fixed point of parse-then-write.
    static func jsonRoundTrip(_ line: UnsafeBufferPointer<UInt8>, accepted: inout Set<String>) throws(PropertyViolation)
    {
        let parsed: Result<JSONValue, JSONParser.Error> = Result { () throws(JSONParser.Error) in
            try JSONParser.parse(buffer: line)
        }

        // The scanner of the hot paths: the same acceptance, error and canonical bytes as the tree.
        let scanned: Result<[UInt8], JSONParser.Error> = Result { () throws(JSONParser.Error) in
            try JSONParser.canonical(buffer: line)
        }
        switch (parsed, scanned) {
        case (.success(let value), .success(let bytes)):
            try require(value.canonicalBytes == bytes, "json", "the scanner's canonical bytes differ: \(show(bytes))")
        case (.failure(let a), .failure(let b)):
            try require(a == b, "json", "the scanner refuses otherwise: \(b) (\(b.kind)), the parser \(a) (\(a.kind))")
        case (.success, .failure(let b)):
            throw PropertyViolation(harness: "json", message: "the scanner refuses what the parser accepts: \(b)")
        case (.failure(let a), .success):
            throw PropertyViolation(harness: "json", message: "the scanner accepts what the parser refuses: \(a)")
        }

        var skipped: Int? = nil
        if let end = try? JSONParser.skipValue(in: line, from: 0), line[end...].allSatisfy(isJSONWhitespace) {
            skipped = end
        }
        switch parsed {
        case .failure(let error):
            try require(
                skipped == nil || error.reason.hasPrefix("duplicate key"), "json",
                "skipValue accepts what parse refuses: \(error)")
            return
        case .success(let value):
            try require(skipped != nil, "json", "parse accepts what skipValue refuses")
            accepted.insert("json")
            let canonical = value.canonicalBytes
            let reparsed: JSONValue
            do {
                reparsed = try JSONParser.parse(canonical)
            } catch {
                throw PropertyViolation(
                    harness: "json", message: "canonical form does not parse: \(error) in \(show(canonical))")
            }
            try require(
                reparsed == sortedKeys(value), "json", "canonical form parses to another value: \(show(canonical))")
            try require(
                reparsed.canonicalBytes == canonical, "json", "canonical form is not idempotent: \(show(canonical))")
        }
    }

    static func isJSONWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// The value with every object's members in canonical order (by the UTF-8 bytes of the key).
    static func sortedKeys(_ value: JSONValue) -> JSONValue {
        switch value {
        case .array(let elements): return .array(elements.map(sortedKeys))
        case .object(let members):
            return .object(
                members.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map {
                    ($0.key, sortedKeys($0.value))
                })
        default: return value
        }
    }
}

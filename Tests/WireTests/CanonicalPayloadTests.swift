import IncidentModel
import Testing

@_spi(Fuzzing) @testable import Wire

/// A payload that arrives in canonical form is checked in one walk and stored as it came
/// (`EventValidator.canonicalPayloadEnd`, taken by `ClientRequest.readEvent`); any other is
/// written in canonical form first. The walk trusts its bytes to be JSON, so what it does not
/// look at is checked around it: these tests hold each such check to the writer's reading.
@Suite struct CanonicalPayloadTests {
    static let validator = EventValidator()

    /// An `incident.reported` payload in canonical form (keys in order, no whitespace), with
    /// `summary` as the string's JSON text and `extra` a member the schema does not name.
    static func payload(summary: String, extra: String? = nil) -> [UInt8] {
        let extra = extra.map { #""extra":\#($0),"# } ?? ""
        return Array(
            (#"{"category":"ied",\#(extra)"incident_id":"i-1","#
                + #""location":{"lat":16.27,"lon":-0.04,"name":"Gao","precision":"exact"},"#
                + #""occurred_at":"2026-11-29T04:00:00Z","summary":"\#(summary)"}"#).utf8)
    }

    static func request(_ payload: [UInt8]) -> [UInt8] {
        Array(#"{"op":"append","events":[{"type":"incident.reported","sector":"east","data":"#.utf8) + payload + Array("}]}".utf8)
    }

    /// Where the one walk says the payload at the start of `bytes` ends, or nil.
    static func walkEnd(_ payload: [UInt8]) -> Int? {
        payload.withUnsafeBufferPointer { EventValidator.canonicalPayloadEnd($0, at: 0, type: .incidentReported) }
    }

    /// The request read as the node reads it (in one part, through `readEvent`), and as the
    /// whole reading, which writes everything in canonical form, reads it.
    static func read(_ line: [UInt8]) -> (node: Result<[[UInt8]], WireError>, whole: Result<[[UInt8]], WireError>) {
        line.withUnsafeBufferPointer { buffer in
            func events(_ request: ClientRequest) -> [[UInt8]] {
                guard case .append(let events) = request else { return [] }
                return events.map(\.canonicalData)
            }
            let node = Result { () throws(WireError) in
                events(try ClientRequest.parse(line: buffer, validator: validator, maximumEvents: 10, threads: 1))
            }
            let whole = Result { () throws(WireError) in
                events(try ClientRequest.parseWhole(line: buffer, validator: validator, maximumEvents: 10))
            }
            return (node, whole)
        }
    }

    /// The common case takes the one walk: a canonical payload, ASCII or not, ends where it
    /// ends, and the node stores exactly its bytes.
    @Test func aCanonicalPayloadIsTakenAsItCame() throws {
        for summary in ["IED on RN16", "camp \u{00e0} S\u{00e9}var\u{00e9} \u{1F600}", #"a \"quoted\" word\n"#, #"bell \u0007"#] {
            let payload = Self.payload(summary: summary)
            #expect(Self.walkEnd(payload) == payload.count, "\(summary)")
            let read = Self.read(Self.request(payload))
            #expect(try read.node.get() == [payload])
            #expect(try read.whole.get() == [payload])
        }
    }

    /// Bytes that are canonical JSON's but for what the walk does not look at: a raw control
    /// character, invalid UTF-8. Not taken by the walk; refused as the whole reading refuses them.
    @Test func aControlCharacterOrBrokenUTF8IsLeftToTheWriter() throws {
        let broken: [[UInt8]] = [[0x01], [0x09], [0x1F], [0xC3], [0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]]
        for bytes in broken {
            var payload = Self.payload(summary: "IED XX on RN16")
            let at = payload.firstIndex(of: UInt8(ascii: "X"))!
            payload.replaceSubrange(at..<(at + 2), with: bytes)
            #expect(Self.walkEnd(payload) == nil, "\(bytes)")
            let read = Self.read(Self.request(payload))
            guard case .failure(let whole) = read.whole, case .failure(let node) = read.node else {
                Issue.record("\(bytes): accepted (\(read))")
                continue
            }
            #expect(whole.code == .invalidJSON)
            #expect(node.code == whole.code && node.message == whole.message)
        }
    }

    /// Escapes other than the minimal ones (`\/`, `\u00e9`, upper-case hex) are written in their
    /// canonical form, not stored as they came.
    @Test func aLongerEscapeIsWrittenCanonical() throws {
        for (sent, stored) in [(#"a\/b"#, "a/b"), (#"S\u00e9var\u00e9"#, "S\u{00e9}var\u{00e9}"), (#"x\u001Fy"#, #"x\u001fy"#), (#"\u0041"#, "A")] {
            #expect(Self.walkEnd(Self.payload(summary: sent)) == nil, "\(sent)")
            let read = Self.read(Self.request(Self.payload(summary: sent)))
            #expect(try read.node.get() == [Self.payload(summary: stored)], "\(sent)")
            #expect(try read.node.get() == read.whole.get())
        }
    }

    /// A container under a member the schema does not name is checked by parsing it from its own
    /// start, so its nesting would count from there; the writer counts from the request. At the
    /// limit, the node refuses what the whole reading refuses (`too_deep`), and below it, both
    /// accept the same bytes.
    @Test func aContainerTheSchemaDoesNotNameIsLeftToTheWriter() throws {
        // The request 1, `events` 2, the event 3, `data` 4: the container's first level is 5.
        let levels = JSONParser.maximumDepth - 4 + 1
        let deep = String(repeating: "[", count: levels) + String(repeating: "]", count: levels)
        #expect(Self.walkEnd(Self.payload(summary: "s", extra: deep)) == nil)
        let read = Self.read(Self.request(Self.payload(summary: "s", extra: deep)))
        guard case .failure(let whole) = read.whole, case .failure(let node) = read.node else {
            Issue.record("accepted: \(read)")
            return
        }
        #expect(whole.code == .tooDeep)
        #expect(node.code == whole.code && node.message == whole.message)

        let shallow = String(repeating: "[", count: levels - 1) + String(repeating: "]", count: levels - 1)
        let accepted = Self.read(Self.request(Self.payload(summary: "s", extra: shallow)))
        #expect(try accepted.node.get() == [Self.payload(summary: "s", extra: shallow)])
        #expect(try accepted.node.get() == accepted.whole.get())
    }

    /// The check of the walk's bytes alone: the smallest byte and a high bit, then UTF-8.
    @Test func plainTextIsPrintableUTF8() {
        #expect(Array("ok \u{00e9}\u{1F600} ~\u{7F}".utf8).withUnsafeBufferPointer { JSONParser.isPlainText($0) })
        for bad: [UInt8] in [[0x00], [0x1F], [0x20, 0x0A], [0x80], [0xC3, 0x28], [0xE0, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80]] {
            #expect(!bad.withUnsafeBufferPointer { JSONParser.isPlainText($0) }, "\(bad)")
        }
    }
}

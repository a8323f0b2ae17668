import IncidentModel
import Testing

/// `Event.parse` accepts only lines exactly as `encode` writes them.
@Suite struct EventParsingRefusalTests {
    static let first = Event.encode(EventSamples.draft(), signer: nil).line
    static let second = Event.encode(EventSamples.draft(seq: 2, prev: EventSamples.someHash), signer: nil).line

    static func refusal(_ line: [UInt8]) -> EventParseError? {
        do {
            _ = try Event.parse(line: line)
            Issue.record("accepted \(String(decoding: line, as: UTF8.self))")
            return nil
        } catch {
            return error
        }
    }

    @Test func validLinesAreAccepted() {
        #expect(throws: Never.self) { try Event.parse(line: Self.first) }
        #expect(throws: Never.self) { try Event.parse(line: Self.second) }
    }

    @Test(arguments: [
        (",\"type\":\"incident.reported\",\"sector\":\"east\"", ",\"sector\":\"east\",\"type\":\"incident.reported\""),
        ("{\"origin\":\"gao\",\"seq\":1,", "{\"seq\":1,\"origin\":\"gao\","),
        (",\"hlc\":\"1764388800000-3\",\"recorded_at\":\"2025-11-29T04:00:00.123Z\"",
         ",\"recorded_at\":\"2025-11-29T04:00:00.123Z\",\"hlc\":\"1764388800000-3\""),
    ])
    func membersOutOfOrderAreRefused(original: String, swapped: String) throws {
        let line = EventSamples.replacing(original, with: swapped, in: Self.first)
        let error = try #require(Self.refusal(line))
        #expect(error.reason.hasPrefix("expected "))
    }

    @Test func prevBeforeIdIsRefused() throws {
        let line = EventSamples.replacing(
            "\"id\":\"gao:2\",\"prev\":\"\(EventSamples.someHash.hex)\"",
            with: "\"prev\":\"\(EventSamples.someHash.hex)\",\"id\":\"gao:2\"", in: Self.second)
        #expect(Self.refusal(line) != nil)
    }

    @Test(arguments: ["gao:2", "timbuktu:1", "gao:01", "gao1", "gao:1 ", ""])
    func idThatIsNotOriginColonSeqIsRefused(id: String) throws {
        let line = EventSamples.replacing("\"id\":\"gao:1\"", with: "\"id\":\"\(id)\"", in: Self.first)
        let error = try #require(Self.refusal(line))
        #expect(error.reason == "id is not origin:seq")
    }

    @Test func seqOneWithPrevIsRefused() throws {
        let line = Event.encode(EventSamples.draft(seq: 1, prev: EventSamples.someHash), signer: nil).line
        let error = try #require(Self.refusal(line))
        #expect(error.reason == "seq 1 has no prev")
    }

    @Test func seqTwoWithoutPrevIsRefused() throws {
        let line = Event.encode(EventSamples.draft(seq: 2, prev: nil), signer: nil).line
        let error = try #require(Self.refusal(line))
        #expect(error.reason == "prev required")
    }

    @Test(arguments: [
        ("\"seq\":1,", "\"seq\":0,", "seq must be at least 1"),
        ("\"seq\":1,", "\"seq\":01,", "expected an unsigned integer"),
        ("\"seq\":1,", "\"seq\":-1,", "expected an unsigned integer"),
        ("{\"origin\":\"gao\"", "{\"origin\":\"Gao\"", "invalid origin"),
        ("{\"origin\":\"gao\"", "{\"origin\":\"g:o\"", "invalid origin"),
        ("\"hlc\":\"1764388800000-3\"", "\"hlc\":\"1764388800000\"", "invalid hlc"),
        ("\"recorded_at\":\"2025-11-29T04:00:00.123Z\"", "\"recorded_at\":\"2025-11-29T05:00:00.123+01:00\"", "invalid recorded_at"),
        (",\"data\":{", ",\"data\":[{", "data must be an object"),
    ])
    func invalidEnvelopeValuesAreRefused(original: String, replacement: String, reason: String) throws {
        var line = EventSamples.replacing(original, with: replacement, in: Self.first)
        if original == ",\"data\":{" {
            line = EventSamples.replacing(",\"hash\":", with: "],\"hash\":", in: line)
        }
        let error = try #require(Self.refusal(line))
        #expect(error.reason == reason)
    }

    @Test func anythingButTheExactEncodedFormIsRefused() {
        #expect(Self.refusal(EventSamples.replacing("\"seq\":1", with: "\"seq\": 1", in: Self.first)) != nil)
        #expect(Self.refusal(Self.first + [UInt8(ascii: "\n")]) != nil)
        #expect(Self.refusal(Self.first + [UInt8(ascii: " ")]) != nil)
        #expect(Self.refusal(Array(Self.first.dropLast())) != nil)
        #expect(Self.refusal(EventSamples.replacing("\"location\":{", with: "\"location\":{,", in: Self.first)) != nil)
        // Uppercase hex is not what encode writes, so it is not a hash.
        let hash = try? Event.parse(line: Self.first).hash.hex
        #expect(Self.refusal(EventSamples.replacing(hash!, with: hash!.uppercased(), in: Self.first)) != nil)
        // A sig that is not 64 bytes of base64.
        #expect(Self.refusal(Array(Self.first.dropLast()) + Array(",\"sig\":\"AAAA\"}".utf8)) != nil)
    }
}

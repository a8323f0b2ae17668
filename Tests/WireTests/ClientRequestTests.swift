import IncidentModel
import NIOCore
import Testing
import Wire

@Suite struct ClientRequestTests {
    func parse(_ s: String, maximumEvents: Int = 100) throws(WireError) -> ClientRequest {
        var bytes = Array(s.utf8)
        return try bytes.withUnsafeMutableBufferPointer { buffer throws(WireError) in
            try ClientRequest.parse(line: UnsafeBufferPointer(buffer), validator: EventValidator(), maximumEvents: maximumEvents)
        }
    }

    func code(_ s: String, maximumEvents: Int = 100) -> WireErrorCode? {
        do {
            _ = try parse(s, maximumEvents: maximumEvents)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func errorsHaveTheirStableCodes() {
        #expect(code("nope") == .invalidJSON)
        #expect(code("{\"op\":1}") == .invalidRequest)
        #expect(code("{}") == .invalidRequest)
        #expect(code("{\"op\":\"fly\"}") == .unknownRequest)
        #expect(code("{\"op\":\"append\",\"events\":[]}") == .invalidRequest)
        #expect(code("{\"op\":\"read\",\"limit\":0}") == .invalidRequest)
        #expect(code("{\"op\":\"append\",\"events\":[{\"type\":\"x\",\"sector\":\"east\",\"data\":{}}]}") == .invalidEvent)
        let three = "{\"op\":\"append\",\"events\":[" + Array(repeating: "{}", count: 3).joined(separator: ",") + "]}"
        #expect(code(three, maximumEvents: 2) == .tooManyEvents)
    }

    @Test func invalidEventNamesItsIndexAndField() {
        do {
            _ = try parse(
                #"{"op":"append","events":[{"type":"intel.sighting","sector":"north","data":{"sighting_id":"s","kind":"drone","source":"uav","location":{"name":"Kidal"}}}]}"#)
            Issue.record("accepted an unknown enum value")
        } catch {
            #expect(error.code == .invalidEvent)
            #expect(error.field == "events[0].data.kind")
        }
    }

    @Test func errorResponseIsOneLineWithCodeAndMessage() throws {
        let line = ClientResponse.error(WireError(.diskFull, "free space \"low\"\nnow"))
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.dropLast().contains(UInt8(ascii: "\n")) == false)
        let json = try JSONParser.parse(line)
        #expect(json["ok"] == .bool(false))
        #expect(json["error"]?["code"]?.stringValue == "disk_full")
        #expect(json["error"]?["message"]?.stringValue == "free space \"low\"\nnow")
    }

    /// A view answer is the view, then what is held ahead of the chain, then the freshness
    /// members beside the view; written into a channel's buffer it is the same line, of the
    /// length it announced.
    @Test func viewAnswerPutsFreshnessMembersBesideTheView() throws {
        let view = Array(#"{"sector":"gao"}"#.utf8)
        let freshness = Array(#"{"ages":{"gao":3},"as_of":"2026-12-06T05:00:00.000Z"}"#.utf8)
        let provisional = Array(#"[{"id":"kidal-0000000009"}]"#.utf8)
        let expected = #"{"ok":true,"view":{"sector":"gao"},"provisional":[{"id":"kidal-0000000009"}],"ages":{"gao":3},"as_of":"2026-12-06T05:00:00.000Z"}"# + "\n"
        for answer in [
            ViewAnswer(view: view, freshness: freshness, provisional: provisional),
            ViewAnswer(view: view, freshness: freshness),
            ViewAnswer(view: view, freshness: nil),
            ViewAnswer(view: view, freshness: Array("{}".utf8)),
        ] {
            var buffer = ByteBufferAllocator().buffer(capacity: 0)
            answer.write(to: &buffer)
            #expect(Array(buffer.readableBytesView) == answer.bytes)
            #expect(buffer.readableBytes == answer.count)
            #expect(try JSONParser.parse(answer.bytes)["view"]?["sector"]?.stringValue == "gao")
        }
        #expect(String(decoding: ViewAnswer(view: view, freshness: freshness, provisional: provisional).bytes, as: UTF8.self) == expected)
        #expect(String(decoding: ClientResponse.view(view, freshness: nil), as: UTF8.self) == #"{"ok":true,"view":{"sector":"gao"}}"# + "\n")
    }
}

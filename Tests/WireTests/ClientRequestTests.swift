import IncidentModel
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
}

import IncidentModel
import Testing

@Suite struct EventHeadTests {
    @Test func headAgreesWithTheFullParse() throws {
        for seq: UInt64 in [1, 2, 99, 1_000_000] {
            let line = Event.encode(EventSamples.draft(seq: seq, prev: seq == 1 ? nil : EventSamples.someHash), signer: nil).line
            let event = try Event.parse(line: line)
            #expect(EventHead(line: line)?.origin == event.origin)
            #expect(EventHead(line: line)?.seq == event.seq)
        }
    }

    @Test(arguments: [
        "", "{", #"{"seq":1,"origin":"gao","#, #"{"origin":gao,"seq":1,"#, #"{"origin":"gao","seq":-1,"#,
        #"{"origin":"gao","seq":"1","#, #"{"origin":"gao","seq":1}"#, #" {"origin":"gao","seq":1,"#,
    ])
    func linesWithoutAHeadAreRefused(text: String) {
        #expect(EventHead(line: Array(text.utf8)) == nil)
    }
}

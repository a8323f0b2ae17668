import Testing

@testable import Wire

/// The answer to an append written from its seqs is the answer written from its ids.
@Suite struct ClientResponseTests {
    @Test(arguments: ["gao", "hq-bamako", #"a"b\c"#, "sévaré", "tab\there"])
    func anAppendAnsweredFromItsSeqsNamesTheSameIds(origin: String) {
        for seqs in [[UInt64(1)], [7, 8, 9], Array(UInt64(998)...UInt64(1_003))] {
            let fromIDs = ClientResponse.appended(ids: seqs.map { "\(origin):\($0)" }, firstOffset: 42)
            let fromSeqs = ClientResponse.appended(origin: origin, seqs: seqs, firstOffset: 42)
            #expect(fromSeqs == fromIDs, "\(String(decoding: fromSeqs, as: UTF8.self))")
        }
    }
}

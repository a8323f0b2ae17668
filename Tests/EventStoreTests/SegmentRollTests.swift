import EventStore
import IncidentModel
import Testing

@Suite struct SegmentRollTests {
    @Test func segmentsRollAtTheSizeLimitAndReadsCrossTheirBoundaries() async throws {
        let limit: UInt64 = 1_000
        var options = StoreOptions()
        options.segmentBytes = limit
        try await StoreHarness.with(options: options) { h in
            let store = try h.open()
            let total = 20
            for n in 1...total {
                _ = try await store.append([pending(n, note: String(repeating: "x", count: n % 5 * 40))])
            }

            let names = h.segmentNames()
            #expect(names.count == store.segmentCount)
            #expect(names.count >= 5)
            var offset = 0
            for (i, name) in names.enumerated() {
                #expect(name == SegmentName.fileName(firstOffset: UInt64(offset)))
                let bytes = h.bytes(ofSegment: name)
                let records = lines(of: bytes)
                #expect(!records.isEmpty)
                if i < names.count - 1 {
                    // Sealed by the first commit that found it at or over the limit.
                    #expect(bytes.count >= Int(limit), "\(name)")
                    #expect(records.last!.start < Int(limit), "\(name)")
                }
                offset += records.count
            }
            #expect(offset == total)

            let all = try store.read(from: 0, limit: 100)
            #expect(all.map(\.line) == names.flatMap { lines(of: h.bytes(ofSegment: $0)).map(\.line) })
            #expect(chainBreak(all) == nil)
            try Self.checkReads(store, total: total)
            await store.close()

            let reopened = try h.open()
            #expect(reopened.segmentCount == names.count)
            try Self.checkReads(reopened, total: total)
            _ = try await reopened.append([pending(21)])
            #expect(try reopened.read(from: 0, limit: 100).map(\.id) == (1...21).map { "gao:\($0)" })
            await reopened.close()
        }
    }

    static func checkReads(_ store: EventStore, total: Int) throws {
        for from in 0...total {
            for limit in [1, 2, 3, 7, 100] {
                let ids = try store.read(from: UInt64(from), limit: limit).map(\.id)
                #expect(ids == (from..<min(total, from + limit)).map { "gao:\($0 + 1)" }, "from \(from) limit \(limit)")
            }
        }
        for seq in 1...total {
            #expect(try store.event(id: "gao:\(seq)")?.seq == UInt64(seq))
        }
    }
}

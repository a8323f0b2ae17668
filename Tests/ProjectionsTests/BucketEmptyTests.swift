@testable import Projections
import Testing

/// The fold drops a bucket that a removal empties (`updateBucket`), and `Bucket.isEmpty` says
/// when: it must look at every field, or a bucket holding only the field it misses is dropped
/// and the views lose that count.
@Suite struct BucketEmptyTests {
    @Test func aBucketWithAnyOneFieldSetIsNotEmpty() {
        #expect(Bucket().isEmpty)
        var changed: [(String, (inout Bucket) -> Void)] = [
            ("dispatchDelays", { $0.dispatchDelays = [0] }),
            ("itemsDispatched", { $0.itemsDispatched = [0: 1] }),
            ("itemsDelivered", { $0.itemsDelivered = [0: 1] }),
            ("personnel", { $0.personnel[0] = 1 }),
            ("personnel", { $0.personnel[1] = -1 }),
        ]
        for lane in 0..<16 {
            changed.append(("incidentsTotal", { $0.incidentsTotal[lane] = 1 }))
            changed.append(("incidentsOpen", { $0.incidentsOpen[lane] = -1 }))
            changed.append(("casualties", { $0.casualties[lane] = Int64.min }))
        }
        for lane in 0..<8 { changed.append(("stations", { $0.stations[lane] = 1 })) }
        for lane in 0..<4 {
            changed.append(("medevacs", { $0.medevacs[lane] = 1 }))
            changed.append(("consignments", { $0.consignments[lane] = 1 }))
            changed.append(("sightings", { $0.sightings[lane] = 1 }))
        }
        for (field, change) in changed {
            var bucket = Bucket()
            change(&bucket)
            #expect(!bucket.isEmpty, "\(field)")
        }
        // Every field of Bucket is changed above: a new field fails here until it is added
        // there and to `isEmpty`.
        let fields = Set(Mirror(reflecting: Bucket()).children.compactMap(\.label))
        #expect(fields == Set(changed.map(\.0)))
    }
}

import Dispatch
import IncidentClient
import IncidentModel
import IncidentServer
import IncidentTestSupport
import Synchronization
import Testing

/// View queries take what the state decides under the fold's lock and do the rest after it is
/// released: a page of the incidents list and the incident view read the values they show back
/// from the log (`IncidentPage`), a view over a range of days adds its days up (`RangeView`). One
/// held in that work does not hold up the fold, and it still shows the state of the moment it
/// was asked for.
///
/// In-process: the hook that holds a query (`TestHooks.outsideFoldLock`) is a closure in the
/// node. It blocks the thread that renders (one of the cooperative pool's, as wide as the
/// cores), so the tests run one at a time: two held at once on two cores would leave the fold
/// no thread.
@Suite("View work outside the fold's lock", .serialized)
struct ViewsOutsideFoldLockTests {
    /// Holds the first call of the hook after `arm` until `release` (or 10 s), and tells whether
    /// it is holding one now.
    final class Gate: Sendable {
        let state = Mutex<(armed: Bool, holding: Bool)>((false, false))
        let entered = DispatchSemaphore(value: 0)
        let released = DispatchSemaphore(value: 0)

        func arm() { state.withLock { $0.armed = true } }
        var holding: Bool { state.withLock { $0.holding } }

        /// The hook, on the thread that renders the page.
        func pass() {
            let hold = state.withLock { s -> Bool in
                guard s.armed else { return false }
                s.armed = false
                s.holding = true
                return true
            }
            guard hold else { return }
            entered.signal()
            _ = released.wait(timeout: .now() + .seconds(10))
            state.withLock { $0.holding = false }
        }

        func release() { released.signal() }

        /// Waits (off the cooperative pool) until a read-back is held.
        func waitEntered() async -> Bool {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(returning: self.entered.wait(timeout: .now() + .seconds(10)) == .success) }
            }
        }
    }

    /// Appends `before` and waits until it is folded; sends `query` from a second connection and
    /// holds it in its first work outside the fold's lock; meanwhile appends `meanwhile` and checks that the
    /// fold takes it in while the query is still held (it held the fold's lock through its reads
    /// before); then releases it and hands its view, and the second connection, to `check`.
    func hold(
        _ query: [UInt8], after before: [[UInt8]], meanwhile: [UInt8],
        check: (JSONValue?, IncidentConnection) async throws -> Void
    ) async throws {
        let gate = Gate()
        try await withInProcessNode(nodeID: "gao", arguments: ["--fsync", "always"], hooks: TestHooks(outsideFoldLock: gate.pass)) { node in
            try await IncidentConnection.withConnection(to: node.client) { office in
                try await IncidentConnection.withConnection(to: node.client) { hq in
                    func folded(_ count: Int64) async throws -> Int64? {
                        var now: Int64?
                        for _ in 0..<200 {
                            now = try await office.request(Requests.status)["projections"]?["folded"]?.integerValue
                            if now == count { break }
                            try await Task.sleep(for: .milliseconds(10))
                        }
                        return now
                    }
                    _ = try await office.request(Requests.append(eventObjects: before))
                    #expect(try await folded(Int64(before.count)) == Int64(before.count))

                    gate.arm()
                    try await hq.send(query)
                    let entered = await gate.waitEntered()
                    #expect(entered)

                    _ = try await office.request(Requests.append(eventObjects: [meanwhile]))
                    #expect(try await folded(Int64(before.count + 1)) == Int64(before.count + 1))
                    #expect(gate.holding, "the fold went on only once the query's reads were done")
                    gate.release()

                    try await check(try JSONParser.parse(try await hq.receiveResponse())["view"], hq)
                }
            }
        }
    }

    @Test func aPageHeldInItsReadsDoesNotHoldUpTheFold() async throws {
        // The page is the list as it stood when HQ asked: the first incident only.
        try await hold(
            Requests.incidents(sector: nil, limit: 50, cursor: nil), after: [Fixtures.incident("first")],
            meanwhile: Fixtures.incident("second")
        ) { view, _ in
            #expect(view?["total"]?.integerValue == 1)
            let rows = view?["incidents"]?.arrayValue ?? []
            #expect(rows.map { $0["incident_id"]?.stringValue } == ["first"])
            #expect(rows.first?["summary"]?.stringValue == "IED on RN16 south of Gao")
        }
    }

    /// The incident view likewise: it shows the incident as it stood when HQ asked, not the
    /// update folded meanwhile.
    @Test func anIncidentViewHeldInItsReadsDoesNotHoldUpTheFold() async throws {
        let dropped = Array(
            #"{"type":"incident.retracted","sector":"east","data":{"incident_id":"first","reason":"duplicate","duplicate_of":"zero"}}"#.utf8)
        let update = Array(
            #"{"type":"incident.updated","sector":"east","data":{"incident_id":"first","changes":{"summary":"two IEDs on RN16"}}}"#.utf8)
        let query = Array(#"{"op":"incident","id":"first"}"#.utf8)
        try await hold(query, after: [Fixtures.incident("first"), dropped], meanwhile: update) { view, hq in
            #expect(view?["fields"]?["summary"]?["event"]?.stringValue == "gao:1")
            #expect(view?["fields"]?["summary"]?["value"]?.stringValue == "IED on RN16 south of Gao")
            #expect(view?["history"]?.arrayValue?.count == 2)
            let retraction = view?["retractions"]?.arrayValue?.first
            #expect(retraction?["duplicate_of"]?.stringValue == "zero")
            #expect(retraction?["reason"]?.stringValue == "duplicate")
            #expect(retraction?["event"]?.stringValue == "gao:2")

            // Asked again, it shows the update.
            let now = try await hq.request(query)["view"]
            #expect(now?["fields"]?["summary"]?["value"]?.stringValue == "two IEDs on RN16")
        }
    }

    /// A view over a range of days likewise: held before it adds its days up, it shows the
    /// sector as it stood when HQ asked, not the incident folded meanwhile.
    @Test func aRangeViewHeldBeforeItsSumsDoesNotHoldUpTheFold() async throws {
        let query = Array(#"{"op":"sector","sector":"east","since":"2026-11-01","until":"2026-11-30"}"#.utf8)
        try await hold(query, after: [Fixtures.incident("first")], meanwhile: Fixtures.incident("second")) { view, hq in
            #expect(view?["incidents"]?["total"]?.integerValue == 1)
            #expect(view?["range"]?["since"]?.stringValue == "2026-11-01")

            let now = try await hq.request(query)["view"]
            #expect(now?["incidents"]?["total"]?.integerValue == 2)
            let overview = try await hq.request(Array(#"{"op":"overview","since":"2026-11-28","until":"2026-11-28"}"#.utf8))["view"]
            #expect(overview?["mission"]?["incidents"]?["total"]?.integerValue == 2)
        }
    }
}

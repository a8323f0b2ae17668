import Dispatch
import IncidentClient
import IncidentModel
import IncidentServer
import IncidentTestSupport
import Synchronization
import Testing

/// A page of the incidents list reads the values its rows show back from the log after the
/// fold's lock is released (`IncidentPage`): a page held in its reads does not hold up the fold,
/// and it still shows the state of the moment it was made.
///
/// In-process: the hook that holds the page in its reads is a closure in the node.
@Suite("Incidents page read-back")
struct PageReadBackTests {
    /// Holds the first read-back after `arm` until `release` (or 10 s), and tells whether it is
    /// holding one now.
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

    @Test func aPageHeldInItsReadsDoesNotHoldUpTheFold() async throws {
        let gate = Gate()
        try await withInProcessNode(nodeID: "gao", arguments: ["--fsync", "always"], hooks: TestHooks(beforeViewReadBack: gate.pass)) { node in
            try await IncidentConnection.withConnection(to: node.client) { office in
                try await IncidentConnection.withConnection(to: node.client) { hq in
                    func folded() async throws -> Int64? { try await office.request(Requests.status)["projections"]?["folded"]?.integerValue }
                    _ = try await office.request(Requests.append(eventObjects: [Fixtures.incident("first")]))
                    for _ in 0..<200 where try await folded() != 1 { try await Task.sleep(for: .milliseconds(10)) }
                    #expect(try await folded() == 1)

                    // HQ asks for the list; its page stops in its first read of the log.
                    gate.arm()
                    try await hq.send(Requests.incidents(sector: nil, limit: 50, cursor: nil))
                    let entered = await gate.waitEntered()
                    #expect(entered)

                    // Meanwhile the office appends, and the fold takes the event in while the
                    // page is still held (it held the fold's lock through its reads before).
                    _ = try await office.request(Requests.append(eventObjects: [Fixtures.incident("second")]))
                    var count = try await folded()
                    for _ in 0..<200 where count != 2 {
                        try await Task.sleep(for: .milliseconds(10))
                        count = try await folded()
                    }
                    #expect(count == 2)
                    #expect(gate.holding, "the fold went on only once the page's reads were done")
                    gate.release()

                    // The page is the list as it stood when HQ asked: the first incident only.
                    let page = try JSONParser.parse(try await hq.receiveResponse())
                    #expect(page["view"]?["total"]?.integerValue == 1)
                    let rows = page["view"]?["incidents"]?.arrayValue ?? []
                    #expect(rows.map { $0["incident_id"]?.stringValue } == ["first"])
                    #expect(rows.first?["summary"]?.stringValue == "IED on RN16 south of Gao")
                }
            }
        }
    }
}

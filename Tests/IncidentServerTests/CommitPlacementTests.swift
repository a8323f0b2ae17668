import IncidentClient
import IncidentServer
import IncidentTestSupport
import NIOPosix
import Synchronization
import Testing

/// Where an append is committed (`LoopTraffic`): a lone append on the event loop that read it;
/// one sent while another connection of that loop is being served on the store's writer
/// thread, so that the other connection's answers do not wait behind its fdatasync.
@Suite("Where an append is committed")
struct CommitPlacementTests {
    /// Each fdatasync, and whether it ran on an event loop.
    final class Syncs: Sendable {
        let onLoop = Mutex<[Bool]>([])
        func record() { onLoop.withLock { $0.append(MultiThreadedEventLoopGroup.currentEventLoop != nil) } }
        var count: Int { onLoop.withLock { $0.count } }
        var last: Bool? { onLoop.withLock { $0.last } }
    }

    @Test func anAppendBesideAnotherConnectionsRequestsIsCommittedByTheWriter() async throws {
        let syncs = Syncs()
        // One event loop (as every in-process node has): both connections are served on it. The
        // quiet window is a minute, so that "HQ has just asked" does not depend on how soon the
        // office's append follows HQ's answer on a loaded machine.
        let hooks = TestHooks(beforeDataSync: syncs.record, appendQuietWindow: .seconds(60))
        try await withInProcessNode(nodeID: "gao", arguments: ["--fsync", "always"], hooks: hooks) { node in
            try await IncidentConnection.withConnection(to: node.client) { office in
                try await IncidentConnection.withConnection(to: node.client) { hq in
                    // The office's own requests do not count against it: alone on the loop, its
                    // append is committed where it was read.
                    _ = try await office.request(Requests.status)
                    _ = try await office.request(Requests.append(eventObjects: [Fixtures.incident("a1")]))
                    #expect(syncs.count == 1)
                    #expect(syncs.last == true)

                    // HQ has asked: the office's append goes to the writer.
                    _ = try await hq.request(Requests.status)
                    _ = try await office.request(Requests.append(eventObjects: [Fixtures.incident("a2")]))
                    #expect(syncs.count == 2)
                    #expect(syncs.last == false)

                    let status = try await hq.request(Requests.status)
                    #expect(status["events"]?.integerValue == 2)
                }
            }
        }
    }
}

@testable import IncidentServer

@Suite("LoopTraffic")
struct LoopTrafficTests {
    let start = ContinuousClock.now
    func at(_ ms: Int) -> ContinuousClock.Instant { start + .milliseconds(ms) }

    @Test func aConnectionAloneIsNeverBusyBesideItself() {
        let traffic = LoopTraffic()
        #expect(!traffic.othersBusy(besides: 1, at: at(10)))
        traffic.note(connection: 1, at: at(10))
        traffic.note(connection: 1, at: at(11))
        #expect(!traffic.othersBusy(besides: 1, at: at(11)))
        #expect(traffic.othersBusy(besides: 2, at: at(11)))
    }

    @Test func theLatestRequestOfAnyOtherConnectionCounts() {
        let traffic = LoopTraffic()
        traffic.note(connection: 1, at: at(10))
        traffic.note(connection: 2, at: at(20))
        traffic.note(connection: 3, at: at(30))
        traffic.note(connection: 3, at: at(40))
        // The default window is 2 ms. Beside 3, the latest other is 2 at 20 ms: busy until 22 ms.
        #expect(traffic.othersBusy(besides: 3, at: at(21)))
        #expect(!traffic.othersBusy(besides: 3, at: at(23)))
        // Beside 1 or 2, 3 asked at 40 ms.
        #expect(traffic.othersBusy(besides: 2, at: at(41)))
        #expect(!traffic.othersBusy(besides: 1, at: at(43)))
        // 2 again: beside 2 the latest other is 3 at 40 ms, beside 3 it is 2.
        traffic.note(connection: 2, at: at(41))
        #expect(traffic.othersBusy(besides: 2, at: at(40) + traffic.window - .nanoseconds(1)))
        #expect(!traffic.othersBusy(besides: 2, at: at(40) + traffic.window))
        #expect(traffic.othersBusy(besides: 3, at: at(42)))
    }
}

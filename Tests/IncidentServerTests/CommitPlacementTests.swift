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
    let ms: UInt64 = 1_000_000

    @Test func aConnectionAloneIsNeverBusyBesideItself() {
        let traffic = LoopTraffic()
        #expect(!traffic.othersBusy(besides: 1, nanos: 10 * ms))
        traffic.note(connection: 1, nanos: 10 * ms)
        traffic.note(connection: 1, nanos: 11 * ms)
        #expect(!traffic.othersBusy(besides: 1, nanos: 11 * ms))
        #expect(traffic.othersBusy(besides: 2, nanos: 11 * ms))
    }

    @Test func theLatestRequestOfAnyOtherConnectionCounts() {
        let traffic = LoopTraffic()
        traffic.note(connection: 1, nanos: 10 * ms)
        traffic.note(connection: 2, nanos: 20 * ms)
        traffic.note(connection: 3, nanos: 30 * ms)
        traffic.note(connection: 3, nanos: 40 * ms)
        // The default window is 2 ms. Beside 3, the latest other is 2 at 20 ms: busy until 22 ms.
        #expect(traffic.othersBusy(besides: 3, nanos: 21 * ms))
        #expect(!traffic.othersBusy(besides: 3, nanos: 23 * ms))
        // Beside 1 or 2, 3 asked at 40 ms.
        #expect(traffic.othersBusy(besides: 2, nanos: 41 * ms))
        #expect(!traffic.othersBusy(besides: 1, nanos: 43 * ms))
        // 2 again: beside 2 the latest other is 3 at 40 ms, beside 3 it is 2.
        traffic.note(connection: 2, nanos: 41 * ms)
        #expect(traffic.othersBusy(besides: 2, nanos: 40 * ms + traffic.window - 1))
        #expect(!traffic.othersBusy(besides: 2, nanos: 40 * ms + traffic.window))
        #expect(traffic.othersBusy(besides: 3, nanos: 42 * ms))
    }
}

import IncidentClient
import IncidentModel
import IncidentTestSupport
import Synchronization
import Testing
import Wire

/// The node's clock is injected (`IncidentNode.Options.wallClock`): the store stamps events with
/// it, and the views' freshness ages are worked out against it, so a test sees an age of 90 s
/// without waiting 90 s.
@Suite struct WallClockTests {
    /// 2026-01-01T00:00:00Z.
    static let start: UInt64 = 1_767_225_600_000

    @Test func eventsAreStampedAndAgedByTheInjectedClock() async throws {
        let now = Mutex(Self.start)
        try await withInProcessNode(nodeID: "gao", arguments: ["--fsync", "never"], wallClock: { now.withLock { $0 } }) { node in
            try await IncidentConnection.withConnection(to: node.client) { client in
                let event = Requests.event(
                    type: "polling_station.status", sector: "east",
                    data: try JSONParser.parse(Array(#"{"station_id":"GAO-1","name":"Ecole GAO-1","status":"open"}"#.utf8)))
                let appended = try await client.request(Requests.append(eventObjects: [event]))
                let id = try #require(appended["ids"]?.arrayValue?.first?.stringValue)
                let stored = try await client.request(Requests.get(id: id))
                #expect(stored["event"]?["recorded_at"]?.stringValue == "2026-01-01T00:00:00.000Z")
                #expect(stored["event"]?["hlc"]?.stringValue?.hasPrefix("\(Self.start)-") == true)

                // The views answer once the fold has the event (on a loaded machine it may lag).
                try await Security.wait("the event folded", timeout: .seconds(30)) {
                    try await client.request(Requests.status)["projections"]?["folded"]?.integerValue == 1
                }
                now.withLock { $0 = Self.start + 90_000 }
                let view = try await client.request(Array(#"{"op":"sector","sector":"east"}"#.utf8))
                #expect(view["ages"]?["gao"]?.integerValue == 90)
                #expect(view["as_of"]?.stringValue == "2026-01-01T00:01:30.000Z")
            }
        }
    }
}

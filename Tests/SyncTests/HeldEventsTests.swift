import IncidentModel
import Testing

@testable import Sync

/// Events held ahead of their origin's chain: promoted in seq order once the log reaches them,
/// released once it holds them, bounded.
@Suite struct HeldEventsTests {
    let key = NodeIdentity(privateKey: .init())

    func chain(_ n: Int) -> [Event] {
        var events: [Event] = []
        for seq in 1...n {
            let draft = Event.Draft(
                origin: "gao", seq: UInt64(seq), prev: events.last?.hash, hlc: HLCTimestamp(wallMillis: UInt64(1000 + seq), counter: 0),
                recordedAtMillis: 1_764_374_400_000, type: "medevac.requested", sector: "east", data: Array("{}".utf8))
            events.append(Event.encode(draft, signer: key.privateKey))
        }
        return events
    }

    @Test func promotesOnlyWhatFollowsOnWithoutAGap() {
        let events = chain(6)
        let held = HeldEvents()
        #expect(held.hold(events[3]) && held.hold(events[5]) && held.hold(events[4]))
        #expect(!held.hold(events[3]), "held once")
        #expect(held.promotable(after: VersionVector(["gao": 2])).isEmpty, "gao:3 is missing")
        #expect(held.promotable(after: VersionVector(["gao": 3])).map(\.seq) == [4, 5, 6])
        held.release(upTo: VersionVector(["gao": 5]))
        #expect(held.events.map(\.id) == ["gao:6"])
    }

    @Test func isBounded() {
        let events = chain(4)
        let held = HeldEvents(maximumEvents: 2, maximumBytes: 1 << 20)
        #expect(held.hold(events[1]) && held.hold(events[2]))
        #expect(!held.hold(events[3]))
        #expect(held.count == 2)
        held.drop([events[1]])
        #expect(held.hold(events[3]))
    }
}

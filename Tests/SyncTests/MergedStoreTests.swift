import EventStore
import Foundation
import IncidentModel
import Logging
import Synchronization
import Testing
import Wire

@testable import Sync

/// `events` messages that arrived while the store was busy are stored together, in one commit
/// (one fsync), and still answered one by one, in order: each its refusals, then its `ack`.
@Suite struct MergedStoreTests {
    let gao = NodeIdentity(privateKey: .init())
    let here = NodeIdentity(privateKey: .init())

    func chain(_ n: Int) -> [Event] {
        var out: [Event] = []
        for i in 1...n {
            let draft = Event.Draft(
                origin: "gao", seq: UInt64(i), prev: out.last?.hash, hlc: HLCTimestamp(wallMillis: 1000 + UInt64(i), counter: 0),
                recordedAtMillis: 1_764_374_400_000, type: "incident.reported", sector: "east",
                data: Array("{\"incident_id\":\"i\(i)\"}".utf8))
            out.append(Event.encode(draft, signer: gao.privateKey))
        }
        return out
    }

    @Test func messagesQueuedBehindTheStoreShareOneCommitAndAreAcknowledgedInOrder() async throws {
        var template = Array("/tmp/incidentlog-merged-store-XXXXXX".utf8CString)
        let directory = String(cString: try #require(mkdtemp(&template)))
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let syncs = Atomic<Int>(0)
        var options = StoreOptions()
        options.syncFaultInjector = {
            syncs.add(1, ordering: .relaxed)
            return true
        }
        let store = try EventStore(directory: directory, nodeID: "bamako", identity: here, options: options, logger: Logger(label: "test"))
        var list = TrustList()
        list.insert(node: "gao", key: gao.publicKey)
        list.insert(node: "bamako", key: here.publicKey)
        let trust = list
        var context = PeerContext(
            store: store, identity: here, nodeID: "bamako", trust: { trust }, registry: PeerRegistry(), logger: Logger(label: "test"))
        context.verificationThreads = 1

        // An established session (the handshake by hand, with gao playing the peer).
        var session = PeerSession(nodeID: "bamako", identity: here, trust: trust, clock: ContinuousClock())
        var peer = PeerSession(nodeID: "gao", identity: gao, trust: trust, clock: ContinuousClock())
        func lines(_ actions: [PeerSession<ContinuousClock>.Action]) -> [[UInt8]] {
            actions.compactMap { if case .send(let l) = $0 { return Array(l.dropLast()) } else { return nil } }
        }
        let ours = lines(session.start(vector: VersionVector()))[0]
        let theirs = lines(peer.start(vector: VersionVector()))[0]
        let proof = lines(peer.receive(ours))[0]
        _ = session.receive(theirs)
        _ = session.receive(proof)
        #expect(session.state == .established)
        let shared = PeerLink.Shared(session, pacer: LinkPacer())

        let events = chain(7)
        var verifier = IngestVerifier(trust: trust)
        // The second message skips seq 4: the store refuses 5 (a gap) and stores what follows nothing.
        let messages = [
            PeerLink.check(events[0..<3].map(\.line), verifier: &verifier, shared: shared, context: context),
            PeerLink.check([events[4].line], verifier: &verifier, shared: shared, context: context),
            PeerLink.check(events[3..<4].map(\.line), verifier: &verifier, shared: shared, context: context),
        ]
        let sent = Mutex<[String]>([])
        let ok = try await PeerLink.storeChecked(
            messages, fresh: false, shared: shared, context: context,
            perform: { actions in
                for case .send(let line) in actions {
                    let message = String(decoding: line, as: UTF8.self)
                    sent.withLock { $0.append(message.hasPrefix("{\"type\":\"ack\"") ? "ack" : message.hasPrefix("{\"type\":\"refused\"") ? "refused" : message) }
                }
                return true
            }, registryKey: nil, direction: "in")
        #expect(ok)
        #expect(syncs.load(ordering: .relaxed) == 1, "three messages, one commit")
        #expect(sent.withLock { $0 } == ["ack", "refused", "ack", "ack"], "the refusal of message 2 comes after the first ack, before its own")
        #expect(store.versionVector["gao"] == 4)
        await store.close()
    }
}

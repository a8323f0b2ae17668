import IncidentModel
import Testing

@testable import Sync

@Suite struct IngestVerifierTests {
    let gao = NodeIdentity(privateKey: .init())

    /// `n` events of origin gao; signed at the positions given (the ends of commit batches).
    func chain(_ n: Int, signedAt: Set<Int>, key: NodeIdentity? = nil) -> [Event] {
        var out: [Event] = []
        for i in 1...n {
            let draft = Event.Draft(
                origin: "gao", seq: UInt64(i), prev: out.last?.hash, hlc: HLCTimestamp(wallMillis: 1000 + UInt64(i), counter: 0),
                recordedAtMillis: 1_764_374_400_000, type: "incident.reported", sector: "east",
                data: Array("{\"incident_id\":\"i\(i)\"}".utf8))
            out.append(Event.encode(draft, signer: signedAt.contains(i) ? (key ?? gao).privateKey : nil))
        }
        return out
    }

    var trust: TrustList {
        var t = TrustList()
        t.insert(node: "gao", key: gao.publicKey)
        return t
    }

    @Test func oneSignatureVouchesForTheWholeRun() {
        var v = IngestVerifier(trust: trust)
        let events = chain(5, signedAt: [5])
        let first = v.check(events.prefix(3).map(\.line))
        #expect(first.verified.isEmpty && first.fatal == nil && v.pendingCount == 3)
        let rest = v.check(events.suffix(2).map(\.line))
        #expect(rest.verified.map(\.id) == events.map(\.id))
        #expect(v.pendingCount == 0)
    }

    @Test func changedDataWithTheSignatureKeptIsRefusedAsBadHash() {
        var v = IngestVerifier(trust: trust)
        let event = chain(1, signedAt: [1])[0]
        var line = event.line
        // Change the payload (incident_id "i1" → "i9"), keep hash and signature as they were.
        line[event.dataRange.upperBound - 3] = UInt8(ascii: "9")
        let out = v.check([line])
        #expect(out.fatal?.code == "bad_hash")
        #expect(out.verified.isEmpty)
    }

    @Test func reHashedForgeryIsRefusedAsBadSignature() {
        var v = IngestVerifier(trust: trust)
        let forger = NodeIdentity(privateKey: .init())
        let forged = chain(2, signedAt: [2], key: forger)
        let out = v.check(forged.map(\.line))
        #expect(out.fatal?.code == "bad_signature")
        #expect(out.verified.isEmpty)
    }

    @Test func eventsOfAnOriginWithNoTrustedKeyAreRefused() {
        var v = IngestVerifier(trust: TrustList())
        let out = v.check(chain(2, signedAt: [2]).map(\.line))
        #expect(out.refused.map(\.code) == ["untrusted_origin", "untrusted_origin"])
        #expect(out.verified.isEmpty && out.fatal == nil)
    }

    @Test func brokenChainInsideARunIsRefused() {
        var v = IngestVerifier(trust: trust)
        let a = chain(3, signedAt: [3])
        let out = v.check([a[0].line, a[2].line])
        #expect(out.fatal?.code == "bad_chain")
    }

    @Test func unsignedTailIsRefusedAtTheEnd() {
        var v = IngestVerifier(trust: trust)
        _ = v.check(chain(4, signedAt: [2]).map(\.line))
        #expect(v.finish().map(\.code) == ["unsigned", "unsigned"])
    }

    @Test func unsignedRunsAreBounded() {
        var v = IngestVerifier(trust: trust, maximumPendingBytes: 2000)
        let out = v.check(chain(20, signedAt: [20]).map(\.line))
        #expect(out.fatal?.code == "unsigned_run_too_long")
    }
}

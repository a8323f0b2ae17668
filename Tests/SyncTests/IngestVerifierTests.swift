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

    /// A message's lines are checked on several threads, each a range of them; what comes out
    /// is what one thread makes of them, also when a range holds a forgery, a broken hash or a
    /// run that a later range's signature ends.
    @Test func checkingOnSeveralThreadsGivesWhatOneThreadGives() {
        let forger = NodeIdentity(privateKey: .init())
        let signed = Set(stride(from: 64, through: 320, by: 64)).union([300])
        let events = chain(320, signedAt: signed)
        let forged = chain(320, signedAt: [300], key: forger)
        var badHash = events[150].line
        badHash[events[150].dataRange.upperBound - 3] = UInt8(ascii: "9")
        let inputs: [[[UInt8]]] = [
            events.map(\.line),
            events.prefix(200).map(\.line) + forged.suffix(120).map(\.line),
            events.prefix(150).map(\.line) + [badHash] + events.suffix(169).map(\.line),
            events.prefix(100).map(\.line) + [Array("{\"not\":\"an event\"}".utf8)],
        ]
        for (n, lines) in inputs.enumerated() {
            var one = IngestVerifier(trust: trust)
            let expected = one.check(lines, threads: 1)
            for threads in [2, 3, 8] {
                var several = IngestVerifier(trust: trust)
                let got = several.check(lines, threads: threads)
                #expect(got.verified.map(\.id) == expected.verified.map(\.id), "input \(n), \(threads) threads")
                #expect(got.fatal == expected.fatal && got.refused == expected.refused, "input \(n), \(threads) threads")
                #expect(several.pendingCount == one.pendingCount)
            }
        }
        var forgery = IngestVerifier(trust: trust)
        #expect(forgery.check(inputs[1], threads: 4).fatal?.id == "gao:300")
        var broken = IngestVerifier(trust: trust)
        #expect(broken.check(inputs[2], threads: 4).fatal?.code == "bad_hash")
        #expect(LineChecks(inputs[0], trust: trust, threads: 4).lines.count == 320)
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

    /// `chain` for another origin, kidal, signed by `key`.
    func kidalChain(_ n: Int, signedAt: Set<Int>, key: NodeIdentity) -> [Event] {
        var out: [Event] = []
        for i in 1...n {
            let draft = Event.Draft(
                origin: "kidal", seq: UInt64(i), prev: out.last?.hash, hlc: HLCTimestamp(wallMillis: 1000 + UInt64(i), counter: 0),
                recordedAtMillis: 1_764_374_400_000, type: "incident.reported", sector: "east",
                data: Array("{\"incident_id\":\"k\(i)\"}".utf8))
            out.append(Event.encode(draft, signer: signedAt.contains(i) ? key.privateKey : nil))
        }
        return out
    }

    /// In a bundle a refusal ends nothing: the bad event and the run waiting on it are refused,
    /// the origin's later events skipped (across calls: a bundle spans requests), other origins go on.
    @Test func aBundleAccountsForEveryLineAfterARefusal() {
        let kidal = NodeIdentity(privateKey: .init())
        var t = trust
        t.insert(node: "kidal", key: kidal.publicKey)
        var v = IngestVerifier(trust: t)
        let gaoEvents = chain(50, signedAt: [10, 20, 30, 40, 50])
        var gaoLines = gaoEvents.map(\.line)
        gaoLines[22][gaoEvents[22].dataRange.upperBound - 3] = UInt8(ascii: "Z")
        let kidalLines = kidalChain(30, signedAt: [15, 30], key: kidal).map(\.line)
        var lines: [[UInt8]] = []
        for i in 0..<50 {
            lines.append(gaoLines[i])
            if i < 30 { lines.append(kidalLines[i]) }
        }
        let first = v.checkBundle(Array(lines[..<40]))
        let second = v.checkBundle(Array(lines[40...]))
        let verified = first.verified + second.verified
        #expect(verified.filter { $0.origin == "gao" }.map(\.seq) == Array(1...20))
        #expect(verified.filter { $0.origin == "kidal" }.map(\.seq) == Array(1...30))
        #expect((first.refused + second.refused).map(\.id) == ["gao:23", "gao:21", "gao:22"])
        #expect((first.skipped + second.skipped).map(\.id) == (24...50).map { "gao:\($0)" })
        #expect((first.skipped + second.skipped).allSatisfy { $0.waitsOn == "gao:23" })
        #expect(v.pendingCount == 0 && v.totalPendingBytes == 0)
        // Sent again from before the refused event, the origin is checked afresh.
        let again = v.checkBundle(gaoEvents.map(\.line))
        #expect(again.verified.count == 50 && again.refused.isEmpty && again.skipped.isEmpty)
    }

    /// The total across origins is bounded too (a client connection's few MiB), and what a
    /// refused run held is given back.
    @Test func heldBytesAreBoundedAcrossOrigins() {
        let kidal = NodeIdentity(privateKey: .init())
        var t = trust
        t.insert(node: "kidal", key: kidal.publicKey)
        let gaoLines = chain(10, signedAt: []).map(\.line)
        let kidalLines = kidalChain(10, signedAt: [], key: kidal).map(\.line)
        func cost(_ lines: ArraySlice<[UInt8]>) -> Int { lines.reduce(0) { $0 + $1.count + IngestVerifier.bookkeepingBytesPerEvent } }
        let gaoCost = cost(gaoLines[...])
        // Room for gao's 10 and kidal's first 5, not a 6th.
        var v = IngestVerifier(trust: t, maximumPendingBytes: 1 << 20, maximumTotalPendingBytes: gaoCost + cost(kidalLines[..<5]))
        let out = v.checkBundle(gaoLines + kidalLines)
        #expect(out.refused.first?.code == "unsigned_run_too_long" && out.refused.first?.id == "kidal:6", "\(out.refused)")
        #expect(out.refused.count == 6)
        #expect(out.skipped.map(\.id) == (7...10).map { "kidal:\($0)" })
        #expect(v.pendingCount == 10 && v.totalPendingBytes == gaoCost)
    }
}

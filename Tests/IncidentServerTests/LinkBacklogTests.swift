import Foundation
import IncidentBench
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing
import Wire

/// Peer sync over a field-like link: Gao holds a backlog when its link to Bamako comes up, and
/// the link (4 KB/s each way, 100 ms one way) is cut every 2–4 s (seed 1). The backlog is
/// about 350 KB: even compressed it needs several sessions.
///
/// These two need sync that makes progress on every session however short (small messages, what
/// arrived kept across cuts) and sends fresh events before the backlog. They fail on sync that
/// sends 1 MiB messages, which never get through a link cut every few seconds.
@Suite(.serialized) struct LinkBacklogTests {
    static let backlog = 600
    static let profile = LinkProfile(
        bytesPerSecond: 4_000, latency: .milliseconds(100), cuts: CutSchedule(minimum: .seconds(2), maximum: .seconds(4), seed: 1))

    /// Bamako (listening) and Gao holding `backlog` generated events, then Gao dialing Bamako
    /// through the proxy. Stops both nodes and the proxy, and removes their files, afterwards.
    static func withLinkedBacklog(_ body: (TestCluster, LinkProxy) async throws -> Void) async throws {
        let cluster = try await TestCluster(ids: ["bamako", "gao"])
        defer { cluster.removeFiles() }
        try await cluster.start("bamako")
        try await cluster.start("gao")
        var generator = EventGenerator(seed: 11)
        _ = try await IncidentConnection.withConnection(to: cluster["gao"].client) { c in
            try await c.request(Requests.append(eventObjects: (0..<backlog).map { _ in generator.nextObject() }))
        }
        await cluster["gao"].stop()
        let proxy = try await LinkProxy.start(to: cluster["bamako"].peer!, profile: profile)
        do {
            cluster["gao"].nextStartArguments = ["--peer", proxy.address.description]
            try await cluster["gao"].start()
            try await body(cluster, proxy)
        } catch {
            Issue.record(
                "proxy: \(proxy.counters)\ngao's log:\n\(cluster["gao"].log.suffix(3000))\nbamako's log:\n\(cluster["bamako"].log.suffix(3000))")
            await proxy.stop()
            throw error
        }
        await proxy.stop()
    }

    @Test(.timeLimit(.minutes(3)))
    func aBacklogConvergesOverACutLink() async throws {
        try await Self.withLinkedBacklog { cluster, proxy in
            let v = try await cluster.waitConverged(
                ["bamako", "gao"], minimum: VersionVector(["gao": UInt64(Self.backlog)]), timeout: .seconds(90))
            #expect(v == VersionVector(["gao": UInt64(Self.backlog)]))
            #expect(proxy.counters.cuts >= 1, "the link was never cut: the test did not test a cut link")
            #expect(try await TestCluster.exportDigest(cluster["bamako"]) == TestCluster.exportDigest(cluster["gao"]))
        }
    }

    /// A medevac request appended at Gao while the backlog drains is stored at Bamako (under its
    /// vector, or listed in `held`) before the backlog has converged.
    @Test(.timeLimit(.minutes(3)))
    func aFreshEventOvertakesTheBacklog() async throws {
        try await Self.withLinkedBacklog { cluster, proxy in
            // Mid-backlog: 600 events of ~575 B need 10 s or more at 4 KB/s, compressed.
            try await Task.sleep(for: .seconds(1))
            var generator = EventGenerator(seed: 12)
            let response = try await IncidentConnection.withConnection(to: cluster["gao"].client) {
                try await $0.request(Requests.append(eventObjects: [generator.nextMedevacRequestObject()]))
            }
            let id = try #require(response["ids"]?.arrayValue?.first?.stringValue)
            let seq = try #require(id.split(separator: ":").last.flatMap { UInt64($0) })
            #expect(seq == UInt64(Self.backlog + 1))
            let deadline = ContinuousClock.now + .seconds(90)
            var arrived: (vector: VersionVector, held: Bool)? = nil
            while arrived == nil, ContinuousClock.now < deadline {
                let status = try await IncidentConnection.withConnection(to: cluster["bamako"].client) { try await $0.request(Requests.status) }
                let vector = status["vector"].flatMap(VersionVector.init(json:)) ?? VersionVector()
                let held = (status["held"]?.arrayValue ?? []).contains { ($0.stringValue ?? $0["id"]?.stringValue) == id }
                if vector["gao"] >= seq || held { arrived = (vector, held) }
                try await Task.sleep(for: .milliseconds(50))
            }
            let got = try #require(arrived, "\(id) never reached bamako in 90 s (cuts \(proxy.counters.cuts))")
            #expect(
                got.vector["gao"] < UInt64(Self.backlog), "\(id) reached bamako only with the whole backlog (vector \(got.vector))")
        }
    }
}

/// `incidentctl bench link`'s library entry with tiny sizes, on a link without cuts (current sync
/// converges there): every figure is filled in and every process is stopped.
@Suite struct LinkBenchHarnessTests {
    @Test(.timeLimit(.minutes(3)))
    func benchLinkReportsAConvergedRunWithoutCuts() async throws {
        let bench = LinkBenchmark(
            profile: LinkProfile(bytesPerSecond: 200_000, latency: .milliseconds(20)), backlog: 100, bundle: 10, fresh: 3,
            freshInterval: .milliseconds(300), seed: 5, timeout: .seconds(60))
        let r = try await bench.run()
        #expect(r.convergedSeconds != nil && r.backlogConvergedSeconds != nil)
        #expect(r.eventsAtBamako == 113 && r.eventsAtGao == 113)
        #expect(r.freshAppended == 3 && r.freshLatenciesMillis.count == 3 && r.freshMissing == 0)
        // (Not bounded below by the link's latency: the latency runs from the client's ack, which
        // can reach it after the node has already sent the event on.)
        #expect(r.storedBytes > 113 * 200)
        #expect((r.linkBytesPerStoredByte ?? 0) > 0, "nothing on the link: \(r.linkBytesToBamako) + \(r.linkBytesToGao)")
        #expect(r.cuts == 0 && r.sessions >= 1)
    }
}

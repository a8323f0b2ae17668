import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing
import Wire

/// The soak's length, from `make soak`; the suite is skipped without it.
let soakSeconds = ProcessInfo.processInfo.environment["INCIDENTLOG_SOAK_SECONDS"].flatMap(Int.init)

/// `make soak` (not part of `make test`): one node ("hq", fsync always) under 50 clients
/// appending and 3 peers syncing with it (each also taking appends of its own), for
/// `INCIDENTLOG_SOAK_SECONDS` (600 by default in the Makefile). Every 10 s the node's RSS and open
/// file descriptors are sampled; after the warm-up (a fifth of the run, at least 30 s) each sample
/// must stay within 10% of the first one after it. At the end every acknowledged event must be
/// in the node's log exactly once and the four nodes must converge. One summary line is printed.
///
/// The clients append `polling_station.status` of 500 stations: realistic load whose projection
/// state is bounded, so that what is measured is the node, not the growth of its data.
@Suite("Soak", .enabled(if: soakSeconds != nil))
struct SoakTests {
    static var seconds: Int? { soakSeconds }
    static let clients = 50
    static let clientInterval = Duration.seconds(1)
    static let sampleInterval = Duration.seconds(10)

    static func station(_ rng: inout SystemRandomNumberGenerator) -> [UInt8] {
        let n = Int.random(in: 0..<500, using: &rng)
        let status = Vocabulary.pollingStationStatuses.randomElement(using: &rng)!
        let sector = Sectors.defaultList[n % Sectors.defaultList.count]
        return Array(
            #"{"type":"polling_station.status","sector":"\#(sector)","data":{"station_id":"ST-\#(n)","name":"Ecole \#(n)","status":"\#(status)"}}"#
                .utf8)
    }

    /// Appends one event every `interval` to `node` until `deadline`; returns the ids acknowledged
    /// and the number of appends that failed.
    static func appender(_ node: HostPort, interval: Duration, until deadline: ContinuousClock.Instant) async -> ([String], Int) {
        var acked: [String] = []
        var failed = 0
        var rng = SystemRandomNumberGenerator()
        try? await Task.sleep(for: .milliseconds(Int.random(in: 0..<500, using: &rng)))
        while ContinuousClock.now < deadline {
            do {
                try await IncidentConnection.withConnection(to: node) { c in
                    while ContinuousClock.now < deadline {
                        let started = ContinuousClock.now
                        let r = try await c.request(Requests.append(eventObjects: [station(&rng)]))
                        if let id = r["ids"]?.arrayValue?.first?.stringValue { acked.append(id) }
                        try await Task.sleep(until: started + interval)
                    }
                }
            } catch {
                failed += 1
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        return (acked, failed)
    }

    struct Sample {
        var second: Int
        var rssKiB: Int
        var fds: Int
    }

    @Test func memoryAndDescriptorsHoldSteadyAndNoAcknowledgedEventIsLost() async throws {
        let duration = Self.seconds ?? 0
        let warmup = max(30, duration / 5)
        let peers = ["p1", "p2", "p3"]
        let cluster = try await TestCluster(ids: ["hq"] + peers, extraArguments: [])
        defer { cluster.removeFiles() }
        try await cluster.start("hq")
        for p in peers { try await cluster.start(p, dialing: ["hq"]) }
        let hq = cluster["hq"]
        let pid = Security.pid(hq)
        let start = ContinuousClock.now
        let deadline = start + .seconds(duration)

        async let appended: [([String], Int)] = withTaskGroup(of: ([String], Int).self) { group in
            for _ in 0..<Self.clients {
                group.addTask { await Self.appender(hq.client, interval: Self.clientInterval, until: deadline) }
            }
            for p in peers {
                let address = cluster[p].client
                group.addTask { await Self.appender(address, interval: .seconds(1), until: deadline) }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        var samples: [Sample] = []
        var next = start + Self.sampleInterval
        while next <= deadline {
            try await Task.sleep(until: next)
            let second = Int((next - start).components.seconds)
            samples.append(Sample(second: second, rssKiB: Security.rssKiB(pid) ?? 0, fds: Security.openFDs(pid) ?? 0))
            next += Self.sampleInterval
        }
        let results = await appended
        let acked = results.flatMap(\.0)
        let failed = results.reduce(0) { $0 + $1.1 }

        var minimum = VersionVector()
        for id in acked {
            let parts = id.split(separator: ":")
            if parts.count == 2, let seq = UInt64(parts[1]) { minimum[String(parts[0])] = max(minimum[String(parts[0])], seq) }
        }
        let converged = try? await cluster.waitConverged(["hq"] + peers, minimum: minimum, timeout: .seconds(60))
        let held = try Fixtures.verifyChains(try await Fixtures.export(hq.client)).map(\.id)
        var counts: [String: Int] = [:]
        for id in held { counts[id, default: 0] += 1 }
        let lost = acked.filter { counts[$0] == nil }.count
        let twice = counts.values.filter { $0 > 1 }.count

        let steady = samples.filter { $0.second > warmup }
        let base = steady.first ?? samples.last ?? Sample(second: 0, rssKiB: 1, fds: 1)
        func spread(_ value: (Sample) -> Int) -> (min: Double, max: Double) {
            let ratios = steady.map { Double(value($0)) / Double(max(value(base), 1)) - 1 }
            return ((ratios.min() ?? 0) * 100, (ratios.max() ?? 0) * 100)
        }
        let rss = spread(\.rssKiB)
        let fds = spread(\.fds)
        let withinBounds = abs(rss.min) <= 10 && abs(rss.max) <= 10 && abs(fds.min) <= 10 && abs(fds.max) <= 10
        let pass = withinBounds && lost == 0 && twice == 0 && converged != nil && !steady.isEmpty
        for s in samples {
            print("soak sample t=\(s.second)s rss=\(s.rssKiB) KiB fds=\(s.fds)\(s.second > warmup ? "" : " (warm-up)")")
        }
        print(
            String(
                format: "soak: %d s, %d clients + %d peers: %d appends acknowledged, %d failed, %d lost, %d stored twice; "
                    + "hq RSS %.1f MiB after warm-up (%+.1f%%..%+.1f%%), fds %d (%+.1f%%..%+.1f%%); %@; %@",
                duration, Self.clients, peers.count, acked.count, failed, lost, twice, Double(base.rssKiB) / 1024, rss.min, rss.max,
                base.fds, fds.min, fds.max, (converged == nil ? "peers NOT converged" : "4 nodes converged at \(held.count) events") as NSString,
                (pass ? "PASS" : "FAIL") as NSString))
        #expect(!steady.isEmpty, "run longer than the warm-up (\(warmup) s) plus one sample")
        #expect(abs(rss.min) <= 10 && abs(rss.max) <= 10, "RSS within 10% after warm-up")
        #expect(abs(fds.min) <= 10 && abs(fds.max) <= 10, "open fds within 10% after warm-up")
        #expect(lost == 0, "acknowledged events lost")
        #expect(twice == 0)
        #expect(converged != nil, "the peers converged")
        // About one append per client per second; half of that still shows the clients kept going.
        #expect(acked.count > Self.clients * duration / 2, "the clients kept appending (\(failed) failures)")
        await cluster.stopAll()
    }
}

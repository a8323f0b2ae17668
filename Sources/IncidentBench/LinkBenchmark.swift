import Dispatch
import Foundation
import IncidentClient
import IncidentModel
import Synchronization
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// `incidentctl bench link`: peer sync over one of the field's links.
///
/// Two real nodes on loopback, `bamako` (peer listener) and `gao`, which dials bamako through a
/// `LinkProxy` with `profile` (rate each way, one-way latency, cuts). Both store with fsync on
/// (incidentd's default).
///
/// 1. Gao, not yet peered, is given a backlog: `backlog` generated events imported (the path of
///    `incidentctl import`), then `bundle` events of a third node, `kidal`, ingested as a bundle
///    (`export --bundle` / `ingest`: kidal is started on its own, appends them, its signed lines
///    are read and kidal is stopped). Every node trusts the other two.
/// 2. Gao is restarted dialing bamako through the proxy: the clock starts when it is ready.
/// 3. While the backlog drains, `fresh` `medevac.requested` events are appended at Gao one by one,
///    `freshInterval` apart (by default one a second).
///    An event counts as stored at Bamako when its seq ≤ Bamako's `status` vector for gao, or its
///    id is in Bamako's `status` array `held` (events stored ahead of their backlog; absent: empty).
///    Bamako is polled every `pollInterval`; latency is Gao's acknowledgement → the first poll that
///    shows it.
/// 4. It ends when every fresh event was appended and Bamako's vector equals Gao's, or at `timeout`.
///
/// Reported: when the backlog converged (Bamako's vector ≥ Gao's when the clock started), link
/// bytes per stored byte (bytes the proxy wrote out, both directions, over the bytes of the event
/// lines Bamako stores: lengths plus newlines), fresh latencies (p50 / max, and how many never
/// arrived), cuts and sessions (connections the proxy accepted).
///
/// Every process it started is stopped on success, on error, and (with `handleSignals`) on SIGINT
/// or SIGTERM, after which the process exits with 130.
public struct LinkBenchmark: Sendable {
    public var profile: LinkProfile
    public var backlog: Int
    public var bundle: Int
    public var fresh: Int
    /// Between fresh events; nil: one second (`defaultFreshInterval`).
    public var freshInterval: Duration?
    public var seed: UInt64
    public var timeout: Duration
    public var pollInterval: Duration
    /// Stop the nodes and exit(130) on SIGINT/SIGTERM while running (the command; not tests).
    public var handleSignals: Bool
    /// Where the nodes' directories go; nil: the temporary directory.
    public var directory: String?

    public init(
        profile: LinkProfile = .field(seed: 1), backlog: Int = 2_000, bundle: Int = 100, fresh: Int = 20,
        freshInterval: Duration? = nil, seed: UInt64 = 1, timeout: Duration = .seconds(600),
        pollInterval: Duration = .milliseconds(75), handleSignals: Bool = false, directory: String? = nil
    ) {
        self.profile = profile
        self.backlog = backlog
        self.bundle = bundle
        self.fresh = fresh
        self.freshInterval = freshInterval
        self.seed = seed
        self.timeout = timeout
        self.pollInterval = pollInterval
        self.handleSignals = handleSignals
        self.directory = directory
    }

    public struct Result: Sendable {
        public var backlogEvents: Int
        public var bundleEvents: Int
        /// Fresh events appended (fewer than asked when the timeout came first).
        public var freshAppended: Int
        /// Seconds from the link coming up until Bamako's vector covered Gao's at that moment; nil: timeout.
        public var backlogConvergedSeconds: Double?
        /// Seconds until Bamako's vector equalled Gao's with every fresh event appended; nil: timeout.
        public var convergedSeconds: Double?
        /// Seconds the run lasted (link up → end).
        public var seconds: Double
        public var eventsAtGao: Int
        public var eventsAtBamako: Int
        /// Proxy bytes written toward Bamako and toward Gao.
        public var linkBytesToBamako: Int
        public var linkBytesToGao: Int
        public var linkBytesDropped: Int
        /// Bytes of the event lines Bamako stores (each line's length plus its newline).
        public var storedBytes: Int
        public var linkBytesPerStoredByte: Double? { storedBytes > 0 ? Double(linkBytesToBamako + linkBytesToGao) / Double(storedBytes) : nil }
        /// Gao's ack → stored at Bamako, per fresh event that arrived, in order of appending.
        public var freshLatenciesMillis: [Double]
        public var freshMissing: Int
        public var freshP50Millis: Double? { Self.percentile(freshLatenciesMillis, 50) }
        public var freshMaxMillis: Double? { freshLatenciesMillis.max() }
        /// Fresh events that arrived through `held` before their seq was under Bamako's vector.
        public var freshSeenHeld: Int
        public var cuts: Int
        public var sessions: Int

        static func percentile(_ values: [Double], _ p: Double) -> Double? {
            guard !values.isEmpty else { return nil }
            let sorted = values.sorted()
            let rank = Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1
            return sorted[max(0, min(sorted.count - 1, rank))]
        }
    }

    struct Trial {
        var id: String
        var seq: UInt64
        var ackedAt: ContinuousClock.Instant
        var arrivedAt: ContinuousClock.Instant?
        var viaHeld = false
    }

    struct Shared {
        var trials: [Trial] = []
        var appendingDone = false
    }

    public func run(progress: @escaping @Sendable (String) -> Void = { _ in }) async throws -> Result {
        let base = directory ?? NSTemporaryDirectory()
        let dir = (base.hasSuffix("/") ? base : base + "/") + "incidentlog-bench-link-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let bamako = LocalNode(nodeID: "bamako", parentDirectory: dir)
        let gao = LocalNode(nodeID: "gao", parentDirectory: dir)
        let kidal = LocalNode(nodeID: "kidal", parentDirectory: dir)
        let cleanup = Cleanup(nodes: [bamako, gao, kidal], directory: dir)
        let signals = handleSignals ? cleanup.installSignalHandlers() : []
        defer {
            cleanup.run()
            for s in signals { s.cancel() }
            if handleSignals {
                signal(SIGINT, SIG_DFL)
                signal(SIGTERM, SIG_DFL)
            }
        }

        let keys = ["bamako": try await bamako.publicKey(), "gao": try await gao.publicKey(), "kidal": try await kidal.publicKey()]
        func trust(except id: String) -> [String] {
            keys.sorted { $0.key < $1.key }.filter { $0.key != id }.flatMap { ["--trust", "\($0.key)=\($0.value)"] }
        }
        try await bamako.start(arguments: ["--peer-listen", "127.0.0.1:0"] + trust(except: "bamako"))
        guard let bamakoPeer = bamako.peer else { throw BenchmarkError("bamako reported no peer listener") }

        // 1. The backlog at Gao, before the link exists.
        try await gao.start(arguments: ["--peer-listen", "off"] + trust(except: "gao"))
        if backlog > 0 {
            let path = dir + "/backlog.jsonl"
            let size = try ImportBenchmark.writeEvents(count: backlog, seed: seed, to: path)
            progress("importing \(backlog) events (\(size / 1024) KiB) at gao")
            let report = try await JSONLImporter(node: IncidentEndpoint(gao.client)).run(path: path)
            guard report.imported == backlog else { throw BenchmarkError("gao acknowledged \(report.imported) of \(backlog) events") }
        }
        if bundle > 0 {
            progress("ingesting a bundle of \(bundle) events from kidal at gao")
            try await kidal.start(arguments: ["--peer-listen", "off"] + trust(except: "kidal"))
            var generator = EventGenerator(seed: seed &+ 2)
            let lines = try await IncidentConnection.withConnection(to: kidal.client) { c in
                _ = try await c.request(Requests.append(eventObjects: (0..<bundle).map { _ in generator.nextObject() }))
                return try await c.storedLines()
            }
            await kidal.stop()
            let r = try await IncidentConnection.withConnection(to: gao.client) { try await $0.request(Requests.ingest(eventLines: lines)) }
            let new = Int(r["new"]?.integerValue ?? 0)
            guard new == bundle else {
                throw BenchmarkError("gao stored \(new) of the \(bundle) bundle events: refused \(r["refused"]?.arrayValue?.count ?? 0), pending \(r["pending"]?.integerValue ?? 0)")
            }
        }
        await gao.stop()

        // 2. The link comes up.
        let proxy = try await LinkProxy.start(to: bamakoPeer, profile: profile)
        cleanup.proxy = proxy
        defer { Task { await proxy.stop() } }
        try await gao.start(arguments: ["--peer-listen", "off", "--peer", proxy.address.description] + trust(except: "gao"))
        let start = ContinuousClock.now
        let backlogVector = try await Self.status(gao.client).vector
        let total = backlogVector.total
        progress("link up (\(Self.describe(profile))): \(total) events to move from gao to bamako")

        // 3. Fresh events while the backlog drains, and 4. polling Bamako.
        let interval = freshInterval ?? Self.defaultFreshInterval(events: Int(total), fresh: fresh, bytesPerSecond: profile.bytesPerSecond)
        let deadline = start + timeout
        let shared = SharedTrials()
        let gaoClient = gao.client, bamakoClient = bamako.client
        let fresh = self.fresh, seed = self.seed, pollInterval = self.pollInterval

        let outcome = try await withThrowingTaskGroup(of: PollOutcome?.self) { group in
            group.addTask {
                var generator = EventGenerator(seed: seed &+ 3)
                try await IncidentConnection.withConnection(to: gaoClient) { c in
                    for i in 0..<fresh {
                        let at = start + interval * (i + 1)
                        guard at < deadline else { break }
                        try await Task.sleep(until: at)
                        let r = try await c.request(Requests.append(eventObjects: [generator.nextMedevacRequestObject()]))
                        let now = ContinuousClock.now
                        guard let id = r["ids"]?.arrayValue?.first?.stringValue, let seq = Self.seq(of: id) else {
                            throw BenchmarkError("gao's append response has no id")
                        }
                        shared.withLock { $0.trials.append(Trial(id: id, seq: seq, ackedAt: now)) }
                    }
                }
                shared.withLock { $0.appendingDone = true }
                return nil
            }
            group.addTask {
                try await Self.poll(
                    gao: gaoClient, bamako: bamakoClient, backlog: backlogVector, start: start, deadline: deadline,
                    every: pollInterval, shared: shared, proxy: proxy, progress: progress)
            }
            var outcome: PollOutcome? = nil
            for try await o in group {
                if let o {
                    outcome = o
                    group.cancelAll()
                }
            }
            return outcome!
        }
        let end = ContinuousClock.now

        let counters = proxy.counters
        await proxy.stop()
        let gaoStatus = try await Self.status(gao.client)
        let storedBytes = try await IncidentConnection.withConnection(to: bamako.client) { c in
            var bytes = 0
            _ = try await c.readStoredLines(from: 0, limit: 2000) { lines in for l in lines { bytes += l.count + 1 } }
            return bytes
        }
        let bamakoStatus = try await Self.status(bamako.client)
        let trials = shared.withLock { $0.trials }
        let latencies = trials.compactMap { t in t.arrivedAt.map { Self.seconds($0 - t.ackedAt) * 1000 } }
        // Stopped here without holding a thread; the cleanup then only removes the directory.
        for node in [bamako, gao, kidal] { await node.stop() }
        return Result(
            backlogEvents: backlog, bundleEvents: bundle, freshAppended: trials.count,
            backlogConvergedSeconds: outcome.backlogConvergedAt.map { Self.seconds($0 - start) },
            convergedSeconds: outcome.convergedAt.map { Self.seconds($0 - start) }, seconds: Self.seconds(end - start),
            eventsAtGao: gaoStatus.events, eventsAtBamako: bamakoStatus.events,
            linkBytesToBamako: counters.bytesToTarget, linkBytesToGao: counters.bytesToClient, linkBytesDropped: counters.bytesDropped,
            storedBytes: storedBytes, freshLatenciesMillis: latencies, freshMissing: trials.count - latencies.count,
            freshSeenHeld: trials.filter(\.viaHeld).count, cuts: counters.cuts, sessions: counters.connectionsAccepted)
    }

    struct PollOutcome: Sendable {
        var backlogConvergedAt: ContinuousClock.Instant?
        var convergedAt: ContinuousClock.Instant?
    }

    /// Polls both nodes until every fresh event is appended and the vectors are equal, or the deadline.
    static func poll(
        gao: HostPort, bamako: HostPort, backlog: VersionVector, start: ContinuousClock.Instant, deadline: ContinuousClock.Instant,
        every interval: Duration, shared: SharedTrials, proxy: LinkProxy, progress: @Sendable (String) -> Void
    ) async throws -> PollOutcome {
        var outcome = PollOutcome()
        var nextProgress = start + .seconds(3)
        try await IncidentConnection.withConnection(to: gao) { g in
            try await IncidentConnection.withConnection(to: bamako) { b in
                while true {
                    // Whether the fresh appends were all done before Gao's status is read: only
                    // then does that status hold them all. Read after it, a last append acked in
                    // between counted as done while neither status held it, the two statuses
                    // agreed, and the run ended with that event never seen at Bamako (a fresh
                    // latency missing from a converged run).
                    let doneBeforeStatus = shared.withLock { $0.appendingDone }
                    // Gao first: what Bamako shows after is at least what Gao had.
                    let gs = Self.parse(try await g.request(Requests.status))
                    let bs = Self.parse(try await b.request(Requests.status))
                    let now = ContinuousClock.now
                    let atBamako = bs.vector["gao"]
                    let (arrived, appended) = shared.withLock { s -> (Int, Int) in
                        for i in s.trials.indices where s.trials[i].arrivedAt == nil {
                            if s.trials[i].seq <= atBamako {
                                s.trials[i].arrivedAt = now
                            } else if bs.held.contains(s.trials[i].id) {
                                s.trials[i].arrivedAt = now
                                s.trials[i].viaHeld = true
                            }
                        }
                        return (s.trials.filter { $0.arrivedAt != nil }.count, s.trials.count)
                    }
                    if outcome.backlogConvergedAt == nil && bs.vector.dominates(backlog) {
                        outcome.backlogConvergedAt = now
                        progress(String(format: "%.1f s: backlog converged", seconds(now - start)))
                    }
                    if doneBeforeStatus && bs.vector == gs.vector && outcome.backlogConvergedAt != nil {
                        outcome.convergedAt = now
                        return
                    }
                    if now >= deadline {
                        progress(String(format: "%.1f s: timeout", seconds(now - start)))
                        return
                    }
                    if now >= nextProgress {
                        let c = proxy.counters
                        progress(
                            String(format: "%.0f s: ", seconds(now - start))
                                + "bamako \(bs.events)/\(gs.events) events, cuts \(c.cuts), sessions \(c.connectionsAccepted), "
                                + "link \(c.bytesToTarget / 1024)/\(c.bytesToClient / 1024) KiB to bamako/gao, fresh \(arrived)/\(appended) arrived")
                        nextProgress = now + .seconds(3)
                    }
                    try await Task.sleep(for: interval)
                }
            }
        }
        return outcome
    }

    struct Status {
        var events: Int
        var vector: VersionVector
        var held: Set<String>
    }

    static func status(_ node: HostPort) async throws -> Status {
        parse(try await IncidentConnection.withConnection(to: node) { try await $0.request(Requests.status) })
    }

    /// `held` may be absent (empty), a list of ids, or a list of objects with an `id`.
    static func parse(_ s: JSONValue) -> Status {
        let held = (s["held"]?.arrayValue ?? []).compactMap { $0.stringValue ?? $0["id"]?.stringValue }
        return Status(
            events: Int(s["events"]?.integerValue ?? 0), vector: s["vector"].flatMap(VersionVector.init(json:)) ?? VersionVector(),
            held: Set(held))
    }

    static func seq(of id: String) -> UInt64? {
        id.split(separator: ":").last.flatMap { UInt64($0) }
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// The backlog's expected drain time at the link's rate (about 600 bytes per event on the
    /// link), over `fresh + 1`, within 0.2–10 s.
    /// One a second: the trials then fall within the backlog's first `fresh` seconds, which on
    /// the field link (2,100 events, about 20 s compressed) is mid-backlog. Spreading them over
    /// the time the backlog would take uncompressed put most of them after it had drained.
    static func defaultFreshInterval(events: Int, fresh: Int, bytesPerSecond: Int?) -> Duration {
        .seconds(1)
    }

    public static func describe(_ p: LinkProfile) -> String {
        var parts = [p.bytesPerSecond.map { "\($0) B/s each way" } ?? "unthrottled", "\(Int(seconds(p.latency) * 1000)) ms one way"]
        if let c = p.cuts {
            parts.append(String(format: "cut every %.1f–%.1f s (seed %llu)", seconds(c.minimum), seconds(c.maximum), c.seed))
        } else {
            parts.append("no cuts")
        }
        return parts.joined(separator: ", ")
    }
}

/// The trials, shared by the appending and the polling task.
final class SharedTrials: Sendable {
    let mutex = Mutex(LinkBenchmark.Shared())
    func withLock<R>(_ body: (inout LinkBenchmark.Shared) -> R) -> R { mutex.withLock { body(&$0) } }
}

/// Stops what a run started: on return, on error, and on SIGINT/SIGTERM.
final class Cleanup: @unchecked Sendable {
    let nodes: [LocalNode]
    let directory: String
    let lock = NSLock()
    var done = false
    var proxy: LinkProxy? {
        get { lock.withLock { _proxy } }
        set { lock.withLock { _proxy = newValue } }
    }
    private var _proxy: LinkProxy?

    init(nodes: [LocalNode], directory: String) {
        self.nodes = nodes
        self.directory = directory
    }

    /// Once; a second caller (the run's end racing a signal) waits until the first has finished,
    /// so the process never exits with a node still running.
    func run() {
        lock.withLock {
            guard !done else { return }
            done = true
            for n in nodes { n.stopHoldingTheThread() }
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// SIGINT and SIGTERM stop the nodes, then exit(130).
    func installSignalHandlers() -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                FileHandle.standardError.write(Data("interrupted: stopping the nodes\n".utf8))
                run()
                exit(130)
            }
            source.resume()
            return source
        }
    }
}

import EventStore
import Foundation
import IncidentClient
import IncidentModel
import Logging
import Projections

/// `incidentctl bench rebuild`: how fast the projections are folded from the log.
///
/// 1. A log of `events` generated events is written into a temporary store (not measured).
/// 2. Rebuild: read the whole log from offset 0 and fold every event into a fresh
///    `ProjectionState` — events/s, the median of `runs`, after `warmup` runs that are not
///    counted. This is the node's own rebuild path (ProjectionService's catch-up): blocks of lines
///    read from the segment files, envelopes and payloads read on a helper thread
///    (`RebuildPipeline`), the state folded on this one.
/// 3. Snapshot: write and load the projection snapshot; then start-up time of a real incidentd on
///    that data directory with the snapshot in place (process start → ready file), when the
///    incidentd binary is found beside incidentctl.
public struct RebuildBenchmark: Sendable {
    public var events: Int
    public var runs: Int
    public var seed: UInt64
    /// Fold runs before the measured ones, not counted.
    public var warmup: Int

    /// A count, not a duration: a rebuild folds a whole log of `events` events.
    public init(events: Int, runs: Int, seed: UInt64, warmup: Int = 0) {
        self.events = events
        self.runs = runs
        self.seed = seed
        self.warmup = warmup
    }

    public struct Result: Sendable {
        public var events: Int
        public var foldSeconds: [Double]
        public var medianEventsPerSecond: Double
        /// Events of the log the fold quarantined (0 for the generator's events, all valid).
        public var quarantined: UInt64
        public var snapshotBytes: Int
        public var snapshotWriteSeconds: Double
        public var snapshotLoadSeconds: Double
        public var startupWithSnapshotSeconds: Double?
        public var startupRSSBytes: UInt64?
    }

    public func run(progress: @Sendable (String) -> Void) async throws -> Result {
        let dir = NSTemporaryDirectory() + "incidentlog-bench-rebuild-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/bench"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        var options = StoreOptions()
        options.fsync = .never
        options.diskReserveBytes = 0
        let identity = try NodeIdentity.loadOrCreate(directory: data)
        let store = try EventStore(directory: data, nodeID: "bench", identity: identity, options: options, logger: logger)
        progress("writing \(events) events")
        var generator = EventGenerator(seed: seed)
        var left = events
        while left > 0 {
            let n = min(1000, left)
            let batch = (0..<n).map { _ -> PendingEvent in
                let e = generator.next()
                return PendingEvent(NewEvent(type: e.type, sector: e.sector, data: e.data))
            }
            _ = try await store.append(batch)
            left -= n
        }

        var seconds: [Double] = []
        var state = ProjectionState()
        for run in 0..<(warmup + runs) {
            progress(run < warmup ? "warm-up fold \(run + 1) of \(warmup)" : "fold run \(run - warmup + 1) of \(runs)")
            let start = ContinuousClock.now
            var folded = ProjectionState()
            let reader = LineBlockReader(store: store, from: 0, to: store.count)
            try RebuildPipeline.run(next: { try reader.next() }) { batch in
                folded.apply(batch)
                return true
            }
            state = folded
            if run >= warmup { seconds.append(Self.seconds(ContinuousClock.now - start)) }
        }
        let sorted = seconds.sorted()
        let median = sorted[sorted.count / 2]

        let path = data + "/projections.snapshot"
        var t = ContinuousClock.now
        try ProjectionSnapshot.write(state, logOffset: store.count, to: path)
        let writeSeconds = Self.seconds(ContinuousClock.now - t)
        t = ContinuousClock.now
        _ = try ProjectionSnapshot.load(from: path)
        let loadSeconds = Self.seconds(ContinuousClock.now - t)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        await store.close()

        var startup: Double? = nil
        var rss: UInt64? = nil
        if FileManager.default.isExecutableFile(atPath: LocalNode.binary) {
            progress("starting incidentd on the log with its snapshot")
            let node = LocalNode(nodeID: "bench", parentDirectory: dir)
            let t0 = ContinuousClock.now
            try await node.start(arguments: ["--peer-listen", "off", "--fsync", "never"])
            startup = Self.seconds(ContinuousClock.now - t0)
            rss = node.residentBytes
            await node.stop()
        }
        return Result(
            events: events, foldSeconds: seconds, medianEventsPerSecond: Double(events) / median,
            quarantined: state.quarantinedCount, snapshotBytes: size,
            snapshotWriteSeconds: writeSeconds, snapshotLoadSeconds: loadSeconds, startupWithSnapshotSeconds: startup,
            startupRSSBytes: rss)
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

import IncidentClient
import Foundation
import Histogram
import IncidentModel
import Synchronization
import Wire

/// `incidentctl bench sync`: (1) catch-up — a source node is filled with `events` events and
/// folds them, then a new node dials it and the clock runs until the new node holds them all
/// (verified and stored under its fsync policy); (2) live lag — with the link up, events are
/// appended on the source at `rate` per second and the time from each append's acknowledgement
/// to its arrival in the new node's log is recorded, after `warmupSeconds` of the same load that
/// is not recorded.
///
/// Catch-up is a count, not a duration: it is the time a new node takes to hold a given log.
/// It has no warm-up either: a cold new node is what it measures.
public struct SyncBenchmark: Sendable {
    public var events: Int
    public var fsync: String
    public var rate: Int
    public var lagSeconds: Int
    public var seed: UInt64
    /// Seconds of live load before lag is recorded.
    public var warmupSeconds: Int

    public init(events: Int, fsync: String, rate: Int, lagSeconds: Int, seed: UInt64, warmupSeconds: Int = 0) {
        self.events = events
        self.fsync = fsync
        self.rate = rate
        self.lagSeconds = lagSeconds
        self.seed = seed
        self.warmupSeconds = warmupSeconds
    }

    public struct Result: Sendable {
        public var events: Int
        public var catchUpSeconds: Double
        public var catchUpPerSecond: Double
        public var lagSamples: Int
        public var lagP50Micros: UInt64
        public var lagP99Micros: UInt64
        public var lagMaxMicros: UInt64
    }

    public func run(progress: @Sendable (String) -> Void) async throws -> Result {
        let dir = NSTemporaryDirectory() + "incidentlog-bench-sync-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let source = LocalNode(nodeID: "source", parentDirectory: dir)
        let target = LocalNode(nodeID: "target", parentDirectory: dir)
        do {
            let result = try await run(source: source, target: target, progress: progress)
            await source.stop()
            await target.stop()
            try? FileManager.default.removeItem(atPath: dir)
            return result
        } catch {
            await source.stop()
            await target.stop()
            try? FileManager.default.removeItem(atPath: dir)
            throw error
        }
    }

    func run(source: LocalNode, target: LocalNode, progress: @Sendable (String) -> Void) async throws -> Result {
        let sourceKey = try await source.publicKey()
        let targetKey = try await target.publicKey()
        try await source.start(arguments: ["--fsync", "never", "--peer-listen", "127.0.0.1:0", "--trust", "target=\(targetKey)"])

        // Fill the source (not measured): 4 connections, 1000 events per append.
        progress("filling the source node with \(events) events")
        try await withThrowingTaskGroup(of: Void.self) { group in
            let perClient = (events + 3) / 4
            for c in 0..<4 {
                let count = max(0, min(perClient, events - c * perClient))
                let seed = self.seed &+ UInt64(c)
                group.addTask {
                    var generator = EventGenerator(seed: seed)
                    try await IncidentConnection.withConnection(to: source.client) { connection in
                        var left = count
                        while left > 0 {
                            let n = min(1000, left)
                            _ = try await connection.request(Requests.append(eventObjects: (0..<n).map { _ in generator.nextObject() }))
                            left -= n
                        }
                    }
                }
            }
            try await group.waitForAll()
        }

        // The source folds what it was filled with; catch-up starts once it has, so that the
        // source's fold of the fill does not take the cores the catch-up is measured on.
        progress("waiting for the source node to fold its \(events) events")
        _ = try await waitFolded(IncidentEndpoint(source.client))

        progress("catching up a new node (fsync \(fsync))")
        let start = ContinuousClock.now
        try await target.start(arguments: [
            "--fsync", fsync, "--peer-listen", "off", "--peer", source.peer!.description, "--trust", "source=\(sourceKey)",
        ])
        try await IncidentConnection.withConnection(to: target.client) { connection in
            while true {
                let status = try await connection.request(Requests.status)
                if (status["vector"]?["source"]?.integerValue ?? 0) >= Int64(events) { return }
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        let catchUp = ContinuousClock.now - start
        let seconds = Double(catchUp.components.seconds) + Double(catchUp.components.attoseconds) / 1e18

        progress("live lag at \(rate) events/s for \(lagSeconds) s" + (warmupSeconds > 0 ? " after \(warmupSeconds) s of warm-up" : ""))
        let lag = try await measureLag(source: source, target: target, startSeq: UInt64(events))
        return Result(
            events: events, catchUpSeconds: seconds, catchUpPerSecond: Double(events) / seconds, lagSamples: Int(lag.totalCount),
            lagP50Micros: lag.valueAtPercentile(50), lagP99Micros: lag.valueAtPercentile(99), lagMaxMicros: lag.max)
    }

    /// Appends in batches every 10 ms; the target's tail (long-poll reads) timestamps arrivals.
    /// The warm-up's ticks come first and are not recorded.
    func measureLag(source: LocalNode, target: LocalNode, startSeq: UInt64) async throws -> Histogram<UInt64> {
        let perTick = max(1, rate / 100)
        let warmTicks = warmupSeconds * 100
        let ticks = warmTicks + lagSeconds * 100
        let acked = Locked<[UInt64: UInt64]>([:])  // source seq → ack time (ns)
        let total = UInt64(perTick * ticks)
        let targetStart = try await IncidentConnection.withConnection(to: target.client) {
            UInt64(try await $0.request(Requests.status)["events"]?.integerValue ?? 0)
        }
        return try await withThrowingTaskGroup(of: Histogram<UInt64>?.self) { group in
            group.addTask {
                var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                try await IncidentConnection.withConnection(to: target.client) { connection in
                    var next = targetStart
                    var seen: UInt64 = 0
                    while seen < total {
                        try await connection.send(Requests.read(from: next, limit: 10_000, waitMillis: 5_000))
                        let (lines, after) = try RawEvents.split(readResponse: try await connection.receive())
                        let now = monotonicNanos()
                        for line in lines {
                            guard let e = try? Event.parse(line: line), e.origin == "source" else { continue }
                            seen += 1
                            if let sent = acked.withLock({ $0[e.seq] }), now > sent { _ = histogram.record((now - sent) / 1000) }
                        }
                        next = after
                    }
                }
                return histogram
            }
            group.addTask {
                var generator = EventGenerator(seed: seed &+ 99)
                try await IncidentConnection.withConnection(to: source.client) { connection in
                    let begin = ContinuousClock.now
                    for tick in 0..<ticks {
                        let request = Requests.append(eventObjects: (0..<perTick).map { _ in generator.nextObject() })
                        let response = try await connection.request(request)
                        let now = monotonicNanos()
                        let ids = response["ids"]?.arrayValue?.compactMap { $0.stringValue } ?? []
                        // Warm-up ticks are appended and read back but not recorded.
                        if tick >= warmTicks {
                            acked.withLock { m in
                                for id in ids { if let seq = UInt64(id.split(separator: ":")[1]) { m[seq] = now } }
                            }
                        }
                        try await Task.sleep(until: begin + .milliseconds(10 * (tick + 1)))
                    }
                }
                return nil
            }
            var result: Histogram<UInt64>? = nil
            for try await h in group { if let h { result = h } }
            return result!
        }
    }
}

func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// A value shared by benchmark tasks.
final class Locked<Value: Sendable>: Sendable {
    let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

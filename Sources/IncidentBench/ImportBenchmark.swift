public import IncidentClient
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `incidentctl bench import`: bulk import throughput of one client, through the path of
/// `incidentctl import` (`JSONLImporter`).
///
/// Generated events (`EventGenerator`, seeded) are written to a temporary JSONL file first, not
/// measured; then the file is imported and the clock runs from opening it to the last
/// acknowledgement: reading, the scan of each line, sending, the node's validation, write and
/// fsync. Latency is per request (sent → acknowledged; two requests are in flight, so it holds
/// the wait behind the one before). A warm-up file of other events is
/// imported the same way before, not measured.
public struct ImportBenchmark: Sendable {
    public var endpoint: IncidentEndpoint
    public var events: Int
    public var warmup: Int
    /// Events per request, at most (the request also stops at `maximumRequestBytes`).
    public var batch: Int
    public var maximumRequestBytes: Int
    public var seed: UInt64
    /// Where the temporary files go; nil: the temporary directory.
    public var directory: String?

    public init(
        node: IncidentEndpoint, events: Int, warmup: Int, batch: Int = JSONLImporter.maximumEventsPerRequest,
        maximumRequestBytes: Int = JSONLImporter.defaultMaximumRequestBytes, seed: UInt64, directory: String? = nil
    ) {
        self.endpoint = node
        self.events = events
        self.warmup = warmup
        self.batch = batch
        self.maximumRequestBytes = maximumRequestBytes
        self.seed = seed
        self.directory = directory
    }

    public struct Result: Sendable {
        /// Events acknowledged in the measured run (equal to the events asked for).
        public var events: Int
        public var requests: Int
        /// Size of the measured file.
        public var fileBytes: Int
        public var seconds: Double
        public var eventsPerSecond: Double
        /// Per request: sent → acknowledged.
        public var latency: LatencySummary
        public var warmupEvents: Int
        public var eventsPerRequest: Double { requests > 0 ? Double(events) / Double(requests) : 0 }
    }

    public func run(progress: @Sendable (String) -> Void = { _ in }) async throws -> Result {
        let base = directory ?? NSTemporaryDirectory()
        let dir = (base.hasSuffix("/") ? base : base + "/") + "incidentlog-bench-import-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let importer = JSONLImporter(node: endpoint, batch: batch, maximumRequestBytes: maximumRequestBytes)

        if warmup > 0 {
            let path = dir + "/warmup.jsonl"
            _ = try Self.writeEvents(count: warmup, seed: seed &+ (1 << 32), to: path)
            progress("warm-up: importing \(warmup) events")
            let report = try await importer.run(path: path)
            guard report.imported == warmup else {
                throw BenchmarkError("warm-up: the node acknowledged \(report.imported) of \(warmup) events")
            }
        }
        let path = dir + "/events.jsonl"
        progress("writing \(events) generated events to \(path)")
        let size = try Self.writeEvents(count: events, seed: seed, to: path)
        progress("importing \(events) events (\(String(format: "%.1f", Double(size) / 1_048_576)) MiB)")
        let report = try await importer.run(path: path)
        guard report.imported == events else {
            throw BenchmarkError("the node acknowledged \(report.imported) of \(events) events")
        }
        return Result(
            events: report.imported, requests: report.requests, fileBytes: size, seconds: report.seconds,
            eventsPerSecond: report.eventsPerSecond, latency: report.latency, warmupEvents: warmup)
    }

    /// Writes `count` generated `{"type","sector","data"}` lines; returns the file's size.
    public static func writeEvents(count: Int, seed: UInt64, to path: String) throws -> Int {
        guard let f = fopen(path, "wb") else {
            throw JSONLImporter.CannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        var generator = EventGenerator(seed: seed)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        var size = 0
        func drain() throws {
            let written = fwrite(buffer, 1, buffer.count, f)
            guard written == buffer.count else {
                throw BenchmarkError("\(path): write failed: \(String(cString: strerror(errno)))")
            }
            size += written
            buffer.removeAll(keepingCapacity: true)
        }
        do {
            for _ in 0..<count {
                buffer.append(contentsOf: generator.nextObject())
                buffer.append(UInt8(ascii: "\n"))
                if buffer.count >= 1 << 20 { try drain() }
            }
            try drain()
        } catch {
            fclose(f)
            throw error
        }
        guard fclose(f) == 0 else { throw BenchmarkError("\(path): close failed: \(String(cString: strerror(errno)))") }
        return size
    }
}

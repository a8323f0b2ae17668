public import IncidentClient
import Histogram
public import Wire

#if canImport(Glibc)
import Glibc
#endif

/// `incidentctl bench append`: closed-loop load like redis-benchmark. Each client has its own
/// connection and keeps one append request of `batch` events in flight; latency is request sent →
/// acknowledgement received, recorded in an HdrHistogram (microseconds).
///
/// With `events`, every request is built before the clock starts, each event generated once.
/// With `duration`, each client cycles through a pool of requests built beforehand (about
/// `durationPoolEvents` events in all), so events repeat once a pool is used up; the node stores
/// every one as a new event. `warmup` events are appended before measuring, in both modes.
public struct AppendBenchmark: Sendable {
    /// The node, with the token and TLS its connections use.
    public var endpoint: IncidentEndpoint
    public var node: HostPort {
        get { endpoint.address }
        set { endpoint.address = newValue }
    }
    public var clients: Int
    public var events: Int
    public var batch: Int
    public var warmup: Int
    public var seed: UInt64
    /// Seconds to append for instead of `events`; nil: `events`.
    public var duration: Double?

    /// Events pre-generated for a run with `duration`, in all clients' pools.
    public static let durationPoolEvents = 50_000

    public init(node: HostPort, clients: Int, events: Int, batch: Int, warmup: Int, seed: UInt64) {
        self.init(node: IncidentEndpoint(node), clients: clients, events: events, batch: batch, warmup: warmup, seed: seed)
    }

    public init(node: IncidentEndpoint, clients: Int, events: Int, batch: Int, warmup: Int, seed: UInt64, duration: Double? = nil) {
        self.endpoint = node
        self.clients = clients
        self.events = events
        self.batch = batch
        self.warmup = warmup
        self.seed = seed
        self.duration = duration
    }

    public struct Result: Sendable {
        public var events: Int
        public var requests: Int
        public var seconds: Double
        public var eventsPerSecond: Double
        public var p50Micros: UInt64
        public var p99Micros: UInt64
        public var p999Micros: UInt64
        public var maxMicros: UInt64
    }

    public func run() async throws -> Result {
        // Requests are built before the clock starts, so the generator is not measured.
        func prepare(total: Int, seedOffset: UInt64) -> [[[UInt8]]] {
            let perClient = (total + clients - 1) / clients
            return (0..<clients).map { c in
                var generator = EventGenerator(seed: seed &+ seedOffset &+ UInt64(c))
                var left = max(0, min(perClient, total - c * perClient))
                var requests: [[UInt8]] = []
                while left > 0 {
                    let n = min(batch, left)
                    requests.append(Requests.append(eventObjects: (0..<n).map { _ in generator.nextObject() }))
                    left -= n
                }
                return requests
            }
        }
        if warmup > 0 { _ = try await drive(prepare(total: warmup, seedOffset: 1 << 32)) }
        let measured = prepare(total: duration == nil ? events : max(clients * batch, Self.durationPoolEvents), seedOffset: 0)
        let start = MonotonicClock.now()
        let histograms = try await drive(measured, until: duration.map { start + UInt64($0 * 1e9) })
        let seconds = Double(MonotonicClock.now() - start) / 1e9
        var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for h in histograms { merged.add(h.0) }
        let stored = histograms.reduce(0) { $0 + $1.1 }
        let requests = histograms.reduce(0) { $0 + $1.2 }
        if duration == nil && stored != events { throw BenchmarkError("the node acknowledged \(stored) of \(events) events") }
        return Result(
            events: stored, requests: requests, seconds: seconds, eventsPerSecond: Double(stored) / seconds,
            p50Micros: merged.valueAtPercentile(50), p99Micros: merged.valueAtPercentile(99),
            p999Micros: merged.valueAtPercentile(99.9), maxMicros: merged.max)
    }

    /// Runs every client's requests, one in flight per client — each once, or over and over
    /// until `deadline` (CLOCK_MONOTONIC ns) when one is given; returns each client's latencies,
    /// events acknowledged and requests made.
    func drive(_ perClient: [[[UInt8]]], until deadline: UInt64? = nil) async throws -> [(Histogram<UInt64>, Int, Int)] {
        let node = self.endpoint
        return try await withThrowingTaskGroup(of: (Histogram<UInt64>, Int, Int).self) { group in
            for requests in perClient where !requests.isEmpty {
                group.addTask {
                    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                    var stored = 0
                    var made = 0
                    try await IncidentConnection.withConnection(to: node) { connection in
                        var i = 0
                        while deadline.map({ MonotonicClock.now() < $0 }) ?? (i < requests.count) {
                            let t0 = MonotonicClock.now()
                            let response = try await connection.request(requests[i % requests.count])
                            _ = histogram.record(min((MonotonicClock.now() - t0) / 1000, 60_000_000))
                            stored += response["ids"]?.arrayValue?.count ?? 0
                            made += 1
                            i += 1
                        }
                    }
                    return (histogram, stored, made)
                }
            }
            var all: [(Histogram<UInt64>, Int, Int)] = []
            for try await r in group { all.append(r) }
            return all
        }
    }
}

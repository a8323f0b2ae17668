import Histogram
public import Wire

#if canImport(Glibc)
import Glibc
#endif

/// `incidentctl bench append`: closed-loop load like redis-benchmark. Each client has its own
/// connection and keeps one append request of `batch` events in flight; latency is request sent →
/// acknowledgement received, recorded in an HdrHistogram (microseconds).
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

    public init(node: HostPort, clients: Int, events: Int, batch: Int, warmup: Int, seed: UInt64) {
        self.init(node: IncidentEndpoint(node), clients: clients, events: events, batch: batch, warmup: warmup, seed: seed)
    }

    public init(node: IncidentEndpoint, clients: Int, events: Int, batch: Int, warmup: Int, seed: UInt64) {
        self.endpoint = node
        self.clients = clients
        self.events = events
        self.batch = batch
        self.warmup = warmup
        self.seed = seed
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
        let measured = prepare(total: events, seedOffset: 0)
        let start = Clock.now()
        let histograms = try await drive(measured)
        let seconds = Double(Clock.now() - start) / 1e9
        var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for h in histograms { merged.add(h.0) }
        let stored = histograms.reduce(0) { $0 + $1.1 }
        let requests = histograms.reduce(0) { $0 + $1.2 }
        return Result(
            events: stored, requests: requests, seconds: seconds, eventsPerSecond: Double(stored) / seconds,
            p50Micros: merged.valueAtPercentile(50), p99Micros: merged.valueAtPercentile(99),
            p999Micros: merged.valueAtPercentile(99.9), maxMicros: merged.max)
    }

    /// Runs every client's requests, one in flight per client; returns each client's latencies,
    /// events acknowledged and requests made.
    func drive(_ perClient: [[[UInt8]]]) async throws -> [(Histogram<UInt64>, Int, Int)] {
        let node = self.endpoint
        return try await withThrowingTaskGroup(of: (Histogram<UInt64>, Int, Int).self) { group in
            for requests in perClient {
                group.addTask {
                    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                    var stored = 0
                    try await IncidentConnection.withConnection(to: node) { connection in
                        for request in requests {
                            let t0 = Clock.now()
                            let response = try await connection.request(request)
                            _ = histogram.record((Clock.now() - t0) / 1000)
                            stored += response["ids"]?.arrayValue?.count ?? 0
                        }
                    }
                    return (histogram, stored, requests.count)
                }
            }
            var all: [(Histogram<UInt64>, Int, Int)] = []
            for try await r in group { all.append(r) }
            return all
        }
    }
}

/// CLOCK_MONOTONIC nanoseconds.
enum Clock {
    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

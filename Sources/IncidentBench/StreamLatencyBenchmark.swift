public import IncidentClient
import IncidentModel
public import Wire

/// `incidentctl bench stream`: how long an event takes from its append to the event stream
/// (docs/HTTP.md, "Event stream").
///
/// One reader holds `GET /api/v1/stream` open (from the end of the log) on the node's HTTP
/// listener; one client appends `appends` events over the client protocol, one at a time,
/// `interval` apart (so each is its own commit). Each event carries a unique `station_id`; the
/// reader notes when the `stored` frame holding it arrives. Latency: the append request sent →
/// its frame received by the reader, so it holds the append's commit (fdatasync under
/// `fsync: always`) as well as the stream's delivery.
public struct StreamLatencyBenchmark: Sendable {
    public var endpoint: IncidentEndpoint
    public var http: HostPort
    public var appends: Int
    /// Milliseconds between one append's acknowledgement and the next append.
    public var intervalMillis: Int
    public var sector: String

    public init(node: IncidentEndpoint, http: HostPort, appends: Int = 100, intervalMillis: Int = 20, sector: String = "east") {
        self.endpoint = node
        self.http = http
        self.appends = appends
        self.intervalMillis = intervalMillis
        self.sector = sector
    }

    public struct Result: Sendable {
        public var appends: Int
        /// Append sent → stored frame received.
        public var latency: LatencySummary
        /// Append sent → acknowledged, for comparison.
        public var appendLatency: LatencySummary
    }

    public func run(progress: @Sendable (String) -> Void = { _ in }) async throws -> Result {
        guard appends >= 1 else { throw BenchmarkError("appends must be at least 1") }
        let run = UInt64.random(in: 0..<UInt64.max)
        let arrivals = Locked([Int: UInt64]())
        let opened = Locked(false)
        let headers = endpoint.token.map { [("Authorization", "Bearer \($0)")] } ?? []
        let appends = self.appends
        let marker = "BENCH-\(String(run, radix: 36))-"
        progress("appending \(appends) events one at a time while a reader holds the event stream open")
        let sent: [UInt64] = try await withThrowingTaskGroup(of: [UInt64]?.self) { group in
            group.addTask {
                do {
                    try await HTTPConnection.withConnection(to: http, tls: try endpoint.tlsContext(), serverHostname: endpoint.serverHostname) { c in
                        try await c.send(.GET, "/api/v1/stream", headers: headers)
                        let head = try await c.readHead()
                        guard head.status == 200 else { throw BenchmarkError("GET /api/v1/stream answered \(head.status)") }
                        opened.withLock { $0 = true }
                        var pending: [UInt8] = []
                        let key = Array(marker.utf8)
                        while arrivals.withLock({ $0.count }) < appends, let part = try await c.readBodyPart() {
                            let now = MonotonicClock.now()
                            pending += part
                            // Whole frames only; each stored frame holds one event line.
                            guard let cut = Self.lastFrameEnd(pending) else { continue }
                            for i in Self.markers(in: pending[..<cut], key: key) { arrivals.withLock { $0[i] = $0[i] ?? now } }
                            pending.removeFirst(cut)
                        }
                    }
                    return nil
                } catch  where Task.isCancelled {
                    return nil  // given up on the missing frames; run() names them
                }
            }
            group.addTask {
                while !opened.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
                let sent = try await IncidentConnection.withConnection(to: endpoint) { connection in
                    var sent: [UInt64] = []
                    for i in 0..<appends {
                        let event = Array(
                            #"{"type":"polling_station.status","sector":"\#(sector)","data":{"station_id":"\#(marker)\#(i)","name":"bench stream","status":"open"}}"#
                                .utf8)
                        sent.append(MonotonicClock.now())
                        _ = try await connection.request(Requests.append(eventObjects: [event]))
                        sent.append(MonotonicClock.now())
                        try await Task.sleep(for: .milliseconds(intervalMillis))
                    }
                    return sent
                }
                // The last frames have 30 s to arrive; the reader is cancelled after that.
                let deadline = ContinuousClock.now + .seconds(30)
                while arrivals.withLock({ $0.count }) < appends, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
                return sent
            }
            var sent: [UInt64] = []
            for try await r in group {
                guard let r else { continue }
                sent = r
                group.cancelAll()
            }
            return sent
        }
        var latency = LatencyHistogram()
        var appendLatency = LatencyHistogram()
        let got = arrivals.withLock { $0 }
        for i in 0..<appends {
            let t0 = sent[2 * i]
            appendLatency.record(nanos: sent[2 * i + 1] - t0)
            guard let t1 = got[i] else { throw BenchmarkError("event \(i) never arrived on the stream") }
            latency.record(nanos: t1 > t0 ? t1 - t0 : 0)
        }
        return Result(appends: appends, latency: latency.summary, appendLatency: appendLatency.summary)
    }

    /// The end of the last whole frame (`\n\n`) in `bytes`.
    static func lastFrameEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        var i = bytes.count - 1
        while i >= 1 {
            if bytes[i] == 0x0A && bytes[i - 1] == 0x0A { return i + 1 }
            i -= 1
        }
        return nil
    }

    /// The numbers after each `key` in `bytes` (the i of `station_id` values `KEYi`).
    static func markers(in bytes: ArraySlice<UInt8>, key: [UInt8]) -> [Int] {
        var out: [Int] = []
        var i = bytes.startIndex
        while i + key.count <= bytes.endIndex {
            if bytes[i] == key[0], bytes[i..<(i + key.count)].elementsEqual(key) {
                var j = i + key.count
                var n = 0
                while j < bytes.endIndex, bytes[j] >= 0x30, bytes[j] <= 0x39 {
                    n = n * 10 + Int(bytes[j] - 0x30)
                    j += 1
                }
                out.append(n)
                i = j
            } else {
                i += 1
            }
        }
        return out
    }
}

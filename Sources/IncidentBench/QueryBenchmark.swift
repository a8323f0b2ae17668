public import IncidentClient
import IncidentModel
import NIOCore
import NIOPosix
public import Wire

#if canImport(Glibc)
import Glibc
#endif

/// `incidentctl bench query`: sector, overview and incidents-list requests per second and their
/// latency while events are appended at a steady rate.
///
/// 1. Pre-fill (not measured): `prefill` generated events, 1000 per append on two connections,
///    then a wait until the node has folded everything it holds, so the views are not empty.
/// 2. Append load: `appendClients` connections append at `appendRate` events/s in all (open
///    loop: each sends the events due since its start, one request in flight, up to 1000 events
///    per request when it falls behind). It runs from before the warm-up to the end.
/// 3. Queries: `clients` connections, closed loop (one request in flight each), cycling
///    through the sectors of the sites the generator uses, or the overview, or both
///    alternately, or a page of `incidentsLimit` rows of the incidents list (all sectors, no
///    filter), or all three in turn. The incidents page is the first one, or with
///    `incidentsDepth` N the page after N pages, its cursor found by walking the list once
///    before the warm-up. `warmup` requests first (not measured), then `requests` in all or for
///    `seconds`. Latency is request sent → whole response line received. The connections are
///    lean like `bench append`'s (`QueryLoadHandler`: requests encoded before the run, one plain
///    channel handler each, an answer only split at its newline and checked to open with
///    `{"ok":true`), so that they cost less than the node they measure.
///
/// With `http` (the node's HTTP listener), each query connection then runs the same warm-up and
/// measured run again over HTTP (`GET /api/v1/sectors/NAME`, `GET /api/v1/overview`,
/// `GET /api/v1/incidents?limit=N&cursor=C`, one keep-alive connection each; docs/HTTP.md), under the same append load: the two protocols on
/// the same node in one run. Latency there is request sent → whole response body received.
///
/// A `rate_limited` answer (the node's per-connection `requests_per_second`) is counted apart
/// and not as a request; any other error stops the benchmark.
public struct QueryBenchmark: Sendable {
    public enum Operation: String, Sendable, CaseIterable {
        /// `both`: sector and overview alternately; `all`: sector, overview and incidents in turn.
        case sector, overview, both, incidents, all

        /// The kinds of query the operation sends, in the order their results are listed.
        var kinds: [QueryKind] {
            switch self {
            case .sector: [.sector]
            case .overview: [.overview]
            case .both: [.sector, .overview]
            case .incidents: [.incidents]
            case .all: [.sector, .overview, .incidents]
            }
        }
    }

    /// One kind of query; its raw value is its result's `operation`.
    public enum QueryKind: String, Sendable, CaseIterable {
        case sector, overview, incidents
    }

    public enum Length: Sendable, Equatable {
        /// Requests in all, across the clients.
        case requests(Int)
        case seconds(Double)
    }

    public var endpoint: IncidentEndpoint
    public var clients: Int
    public var operation: Operation
    public var length: Length
    /// Requests before measuring, across the clients.
    public var warmup: Int
    /// Events/s appended while querying, across `appendClients`; 0: no append load.
    public var appendRate: Int
    public var appendClients: Int
    public var prefill: Int
    public var seed: UInt64
    /// The node's HTTP listener: measure over HTTP too, after the line protocol.
    public var http: HostPort?
    /// Rows of an incidents page.
    public var incidentsLimit = 50
    /// Pages of the incidents list before the measured one (0: the first page).
    public var incidentsDepth = 0

    public init(
        node: IncidentEndpoint, clients: Int = 4, operation: Operation = .both, length: Length = .seconds(10), warmup: Int = 1000,
        appendRate: Int = 1000, appendClients: Int = 4, prefill: Int = 100_000, seed: UInt64 = 1
    ) {
        self.endpoint = node
        self.clients = clients
        self.operation = operation
        self.length = length
        self.warmup = warmup
        self.appendRate = appendRate
        self.appendClients = appendClients
        self.prefill = prefill
        self.seed = seed
    }

    public struct OperationResult: Sendable {
        /// `sector`, `overview`, `incidents`, or `all`.
        public var operation: String
        public var requests: Int
        public var requestsPerSecond: Double
        public var latency: LatencySummary
    }

    /// One protocol's measured run.
    public struct Phase: Sendable {
        /// One per kind of query run (sector, overview, incidents), then `all` when several ran.
        public var operations: [OperationResult]
        /// Every query of the measured run.
        public var all: OperationResult
        public var seconds: Double
        /// Answers `rate_limited` (not counted as requests).
        public var rateLimited: Int
    }

    public struct Result: Sendable {
        /// One per kind of query run (sector, overview, incidents), then `all` when several ran.
        public var operations: [OperationResult]
        /// Every query of the measured run.
        public var all: OperationResult
        public var seconds: Double
        /// Answers `rate_limited` (not counted as requests).
        public var rateLimited: Int
        /// The same run over HTTP, when `http` was given.
        public var overHTTP: Phase?
        /// Events the node held when measuring began, and how many of them were folded.
        public var eventsAtStart: Int
        public var foldedAtStart: Int
        public var prefilled: Int
        public var appendRate: Int
        public var appendClients: Int
        /// Events acknowledged while measuring, and that per second (with `http`: from the start of
        /// the line protocol's measured run to the end of HTTP's, its warm-up included).
        public var appended: Int
        public var achievedAppendRate: Double
        /// Append requests acknowledged while measuring: sent → acknowledged.
        public var appendLatency: LatencySummary
    }

    public func run(progress: @Sendable (String) -> Void = { _ in }) async throws -> Result {
        guard clients >= 1 else { throw BenchmarkError("clients must be at least 1") }
        guard appendRate == 0 || appendClients >= 1 else { throw BenchmarkError("append clients must be at least 1") }
        switch length {
        case .requests(let n) where n < 1: throw BenchmarkError("requests must be at least 1")
        case .seconds(let s) where !(s > 0): throw BenchmarkError("the duration must be above 0 seconds")
        default: break
        }
        if prefill > 0 {
            progress("pre-filling the node with \(prefill) events")
            try await fill()
        }
        progress("waiting until the node has folded every event it holds")
        let (eventsAtStart, foldedAtStart) = try await waitFolded(endpoint)
        var cursor: String? = nil
        if operation.kinds.contains(.incidents), incidentsDepth > 0 {
            progress("walking \(incidentsDepth) pages of the incidents list for the measured page's cursor")
            cursor = try await incidentsCursor()
        }
        let incidentsCursor = cursor

        let stop = Locked(false)
        let barriers = [Locked(Barrier()), Locked(Barrier())]
        let queryClients = clients
        var appends: [AppendRecord] = []
        // The line protocol's run, then HTTP's when measured: each with every connection's outcome.
        var queries: [[QueryOutcome]] = []
        progress(
            "querying (\(operation.rawValue)) on \(clients) connections"
                + (appendRate > 0 ? " while appending \(appendRate) events/s on \(appendClients)" : ""))
        try await withThrowingTaskGroup(of: ClientOutcome.self) { group in
            if appendRate > 0 {
                for c in 0..<appendClients {
                    let rate = Double(appendRate) / Double(appendClients)
                    let seed = self.seed &+ (3 << 32) &+ UInt64(c)
                    group.addTask { .append(try await self.appendLoad(rate: rate, seed: seed, stop: stop)) }
                }
            }
            group.addTask {
                var phases = [try await self.lineQueryRun(cursor: incidentsCursor, barrier: barriers[0])]
                if let http = self.http {
                    phases.append(
                        try await withThrowingTaskGroup(of: QueryOutcome.self) { clients in
                            for c in 0..<queryClients {
                                clients.addTask { try await self.queryClient(c, cursor: incidentsCursor, barrier: barriers[1], over: http) }
                            }
                            return try await clients.reduce(into: []) { $0.append($1) }
                        })
                }
                return .query(phases)
            }
            for try await outcome in group {
                switch outcome {
                case .append(let records): appends += records
                case .query(let q):
                    queries = q
                    stop.withLock { $0 = true }
                }
            }
        }

        let line = phase(queries[0], barrier: barriers[0])
        let overHTTP = http == nil ? nil : phase(queries[1], barrier: barriers[1])
        // The append load runs through both protocols' runs: its figures cover them both.
        let start = line.start
        let end = overHTTP?.end ?? line.end
        let appendSeconds = Double(end - start) / 1e9

        var appendLatency = LatencyHistogram()
        var appended = 0
        for record in appends where record.acknowledged >= start && record.acknowledged <= end {
            appended += record.events
            appendLatency.record(nanos: record.latency)
        }
        return Result(
            operations: line.phase.operations, all: line.phase.all, seconds: line.phase.seconds, rateLimited: line.phase.rateLimited,
            overHTTP: overHTTP?.phase,
            eventsAtStart: eventsAtStart, foldedAtStart: foldedAtStart, prefilled: prefill, appendRate: appendRate,
            appendClients: appendRate > 0 ? appendClients : 0, appended: appended, achievedAppendRate: Double(appended) / appendSeconds,
            appendLatency: appendLatency.summary)
    }

    /// The figures of one protocol's measured run.
    func phase(_ queries: [QueryOutcome], barrier: Locked<Barrier>) -> (phase: Phase, start: UInt64, end: UInt64) {
        let start = barrier.withLock { $0.start } ?? 0
        let end = queries.map(\.finished).max() ?? start
        let seconds = Double(end - start) / 1e9
        var perOperation: [OperationResult] = []
        var all = LatencyHistogram()
        let ran = operation.kinds
        for op in ran {
            var merged = LatencyHistogram()
            for q in queries { merged.add(q.latency[op.index]) }
            all.add(merged)
            let count = Int(merged.histogram.totalCount)
            perOperation.append(
                OperationResult(operation: op.rawValue, requests: count, requestsPerSecond: Double(count) / seconds, latency: merged.summary))
        }
        let total = Int(all.histogram.totalCount)
        let allResult = OperationResult(operation: "all", requests: total, requestsPerSecond: Double(total) / seconds, latency: all.summary)
        if ran.count > 1 { perOperation.append(allResult) }
        let phase = Phase(operations: perOperation, all: allResult, seconds: seconds, rateLimited: queries.reduce(0) { $0 + $1.rateLimited })
        return (phase, start, end)
    }

    // MARK: - Pre-fill

    func fill() async throws {
        let endpoint = self.endpoint
        let connections = 2
        try await withThrowingTaskGroup(of: Void.self) { group in
            let perConnection = (prefill + connections - 1) / connections
            for c in 0..<connections {
                let count = max(0, min(perConnection, prefill - c * perConnection))
                let seed = self.seed &+ (2 << 32) &+ UInt64(c)
                group.addTask {
                    var generator = EventGenerator(seed: seed)
                    try await IncidentConnection.withConnection(to: endpoint) { connection in
                        var left = count
                        while left > 0 {
                            let n = min(1000, left)
                            let response = try await connection.request(
                                Requests.append(eventObjects: (0..<n).map { _ in generator.nextObject() }))
                            guard response["ids"]?.arrayValue?.count == n else {
                                throw BenchmarkError("pre-fill: the node acknowledged fewer events than sent")
                            }
                            left -= n
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// The `next_cursor` after `incidentsDepth` pages of `incidentsLimit` rows.
    func incidentsCursor() async throws -> String {
        try await IncidentConnection.withConnection(to: endpoint) { connection in
            var cursor: String? = nil
            for page in 0..<incidentsDepth {
                let response = try await connection.request(Requests.incidents(sector: nil, limit: incidentsLimit, cursor: cursor))
                guard let next = response["view"]?["next_cursor"]?.stringValue else {
                    throw BenchmarkError(
                        "the incidents list has \(page + 1) pages of \(incidentsLimit), fewer than the depth \(incidentsDepth) + 1")
                }
                cursor = next
            }
            return cursor ?? ""
        }
    }

    // MARK: - Append load

    struct AppendRecord: Sendable {
        var acknowledged: UInt64
        var latency: UInt64
        var events: Int
    }

    /// Appends `rate` events/s until `stop`; one record per acknowledged request.
    func appendLoad(rate: Double, seed: UInt64, stop: Locked<Bool>) async throws -> [AppendRecord] {
        var generator = EventGenerator(seed: seed)
        return try await IncidentConnection.withConnection(to: endpoint) { connection in
            var records: [AppendRecord] = []
            let begin = MonotonicClock.now()
            var sent = 0
            while !stop.withLock({ $0 }) {
                let elapsed = Double(MonotonicClock.now() - begin) / 1e9
                let due = Int(elapsed * rate) + 1 - sent
                if due <= 0 {
                    // The next event is due at sent / rate; look at `stop` at least every 50 ms.
                    let wait = min(0.05, Double(sent) / rate - elapsed)
                    try await Task.sleep(for: .nanoseconds(Int64(max(wait, 0.0001) * 1e9)))
                    continue
                }
                let n = min(due, 1000)
                let request = Requests.append(eventObjects: (0..<n).map { _ in generator.nextObject() })
                let t0 = MonotonicClock.now()
                let response = try await connection.request(request)
                let t1 = MonotonicClock.now()
                records.append(AppendRecord(acknowledged: t1, latency: t1 - t0, events: response["ids"]?.arrayValue?.count ?? 0))
                sent += n
            }
            return records
        }
    }

    // MARK: - Queries

    struct Barrier: Sendable {
        var arrived = 0
        /// When the last client arrived: the measured run's start.
        var start: UInt64? = nil
    }

    struct QueryOutcome: Sendable {
        /// By `QueryKind.index`.
        var latency = [LatencyHistogram](repeating: LatencyHistogram(), count: QueryKind.allCases.count)
        var rateLimited = 0
        var finished: UInt64 = 0
    }

    enum ClientOutcome: Sendable {
        case append([AppendRecord])
        /// The line protocol's run, then HTTP's when measured: each with every connection's outcome.
        case query([[QueryOutcome]])
    }

    /// One query of the cycle: its kind, the request line, and the HTTP path of the same query.
    typealias Query = (kind: QueryKind, line: [UInt8], path: String)

    /// The queries a client cycles through; `cursor` starts the incidents page.
    func requestCycle(client: Int, cursor: String?) -> [Query] {
        let sectors = EventGenerator.sectors.map { name -> Query in
            var w = JSONWriter()
            w.raw(#"{"op":"sector","sector":"#)
            w.string(name)
            w.raw("}")
            return (.sector, w.bytes, "/api/v1/sectors/\(name)")
        }
        let overview: Query = (.overview, Array(#"{"op":"overview"}"#.utf8), "/api/v1/overview")
        // A cursor is digits, a dot and hex digits: nothing to escape in a query string.
        let incidents: Query = (
            .incidents, Requests.incidents(sector: nil, limit: incidentsLimit, cursor: cursor),
            "/api/v1/incidents?limit=\(incidentsLimit)" + (cursor.map { "&cursor=\($0)" } ?? "")
        )
        var cycle: [Query]
        switch operation {
        case .sector: cycle = sectors
        case .overview: cycle = [overview]
        case .both: cycle = sectors.flatMap { [$0, overview] }
        case .incidents: cycle = [incidents]
        case .all: cycle = sectors.flatMap { [$0, overview, incidents] }
        }
        // Clients start at different places, so they do not all ask for the same sector at once.
        let shift = cycle.isEmpty ? 0 : (client * 3) % cycle.count
        return Array(cycle[shift...] + cycle[..<shift])
    }

    /// What one query got: an answer, or `rate_limited` (retried, not counted).
    enum Answered {
        case ok
        case rateLimited
    }

    /// The line protocol's run: every query connection lean (`QueryLoadHandler`: pre-encoded
    /// requests, no task or JSON tree per query). The measured run starts once every connection
    /// has done its share of the warm-up; the barrier gets its start.
    func lineQueryRun(cursor: String?, barrier: Locked<Barrier>) async throws -> [QueryOutcome] {
        let auth = LeanConnection.authLine(endpoint)
        var channels: [any Channel] = []
        defer { for c in channels { c.close(promise: nil) } }
        var warmedUp: [EventLoopFuture<Void>] = []
        var runs: [EventLoopFuture<QueryOutcome>] = []
        for c in 0..<clients {
            let cycle = requestCycle(client: c, cursor: cursor).map { (kind: $0.kind.index, line: ByteBuffer(bytes: $0.line + [UInt8(ascii: "\n")])) }
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            let warm = loop.makePromise(of: Void.self)
            let done = loop.makePromise(of: QueryOutcome.self)
            let warmup = share(self.warmup, client: c)
            do {
                channels.append(
                    try await LeanConnection.connect(to: endpoint, on: loop) {
                        QueryLoadHandler(cycle: cycle, auth: auth, warmup: warmup, warmedUp: warm, done: done)
                    })
            } catch {
                warm.fail(error)
                done.fail(error)
                throw error
            }
            warmedUp.append(warm.futureResult)
            runs.append(done.futureResult)
        }
        for w in warmedUp { try await w.get() }
        let start = MonotonicClock.now()
        barrier.withLock {
            $0.arrived = clients
            $0.start = start
        }
        for (c, channel) in channels.enumerated() {
            let begin: QueryLoadHandler.Begin
            switch length {
            case .requests(let total): begin = QueryLoadHandler.Begin(requests: share(total, client: c))
            case .seconds(let seconds): begin = QueryLoadHandler.Begin(deadline: start + UInt64(seconds * 1e9))
            }
            channel.pipeline.fireUserInboundEventTriggered(begin)
        }
        var outcomes: [QueryOutcome] = []
        for run in runs { outcomes.append(try await run.get()) }
        return outcomes
    }

    /// One query connection over HTTP: its share of the warm-up, the barrier, then the measured
    /// run.
    func queryClient(_ client: Int, cursor: String?, barrier: Locked<Barrier>, over http: HostPort) async throws -> QueryOutcome {
        let cycle = requestCycle(client: client, cursor: cursor)
        let headers = endpoint.token.map { [("Authorization", "Bearer \($0)")] } ?? []
        return try await HTTPConnection.withConnection(to: http, tls: try endpoint.tlsContext(), serverHostname: endpoint.serverHostname) { connection in
            try await measure(client, cycle: cycle, barrier: barrier) { query in
                let answer = try await connection.request(.GET, query.path, headers: headers)
                if answer.status == 200, answer.body.starts(with: AnswerLines.okPrefix) { return .ok }
                if answer.errorCode == "rate_limited" { return .rateLimited }
                throw ClientError.protocolError("unexpected answer \(answer.status) to GET \(query.path): \(String(decoding: answer.body.prefix(200), as: UTF8.self))")
            }
        }
    }

    /// Connection `client`'s part of `total` requests spread over the connections.
    func share(_ total: Int, client: Int) -> Int { total / clients + (client < total % clients ? 1 : 0) }

    /// The warm-up, the barrier and the measured run of one connection, `ask` sending one query.
    func measure(
        _ client: Int, cycle: [Query], barrier: Locked<Barrier>, ask: (Query) async throws -> Answered
    ) async throws -> QueryOutcome {
        var outcome = QueryOutcome()
        var next = 0
        // One successful query; false when it was rate limited.
        func query(record: Bool) async throws -> Bool {
            let q = cycle[next % cycle.count]
            let t0 = MonotonicClock.now()
            let answered = try await ask(q)
            let t1 = MonotonicClock.now()
            if case .rateLimited = answered {
                if record { outcome.rateLimited += 1 }
                try await Task.sleep(for: .milliseconds(1))  // the bucket refills; do not spin on it
                return false
            }
            next += 1
            if record { outcome.latency[q.kind.index].record(nanos: t1 - t0) }
            return true
        }
        var warm = share(warmup, client: client)
        while warm > 0 { if try await query(record: false) { warm -= 1 } }

        let arrived = barrier.withLock { b -> Bool in
            b.arrived += 1
            if b.arrived == clients { b.start = MonotonicClock.now() }
            return b.arrived == clients
        }
        var start: UInt64? = arrived ? barrier.withLock { $0.start } : nil
        while start == nil {
            try await Task.sleep(for: .microseconds(200))
            start = barrier.withLock { $0.start }
        }
        switch length {
        case .requests(let total):
            var left = share(total, client: client)
            while left > 0 { if try await query(record: true) { left -= 1 } }
        case .seconds(let seconds):
            let deadline = start! + UInt64(seconds * 1e9)
            while MonotonicClock.now() < deadline { _ = try await query(record: true) }
        }
        outcome.finished = MonotonicClock.now()
        return outcome
    }
}

extension QueryBenchmark.QueryKind {
    var index: Int {
        switch self {
        case .sector: 0
        case .overview: 1
        case .incidents: 2
        }
    }
}

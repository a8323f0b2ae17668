import ArgumentParser
import Foundation
import IncidentBench
import IncidentClient
import Wire

// Every bench prints a table by default and one JSON object with --json; progress goes to
// stderr. The measuring is in IncidentClient and IncidentBench; these commands parse flags and print.

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load generators and benchmarks.",
        discussion: """
            Each has a warm-up (--warmup), a size given as a count or, where a run has no natural end \
            (append, query), a duration (--duration), a table by default and one JSON object with --json. \
            Latencies come from HdrHistogram. Events are generated from the mission's sites and event \
            catalogue with --seed.
            """,
        subcommands: [
            BenchAppend.self, BenchImport.self, BenchQuery.self, BenchStream.self, BenchSync.self, BenchRebuild.self, BenchLink.self,
        ])
}

/// `--events N` or `--duration SECONDS`, exclusive; the default count when neither is given.
func countOrDuration(count: Int?, duration: Double?, countFlag: String, defaultCount: Int) throws -> (count: Int, duration: Double?) {
    switch (count, duration) {
    case (.some, .some): throw ValidationError("give \(countFlag) or --duration, not both")
    case (_, .some(let d)):
        guard d > 0, d.isFinite else { throw ValidationError("--duration must be above 0 seconds") }
        return (0, d)
    case (let n, nil):
        let n = n ?? defaultCount
        guard n >= 1 else { throw ValidationError("\(countFlag) must be at least 1") }
        return (n, nil)
    }
}

struct BenchAppend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Durable append throughput and acknowledgement latency against a running node.",
        discussion: """
            Each client keeps one append of --batch events in flight (closed loop). The node's fsync policy is \
            the node's own. Every connection is made (and its token accepted) before the clock starts, then all \
            start at once. With --events every request is built before the clock starts; with --duration each \
            client cycles through requests built beforehand (\(AppendBenchmark.durationPoolEvents) events in all), \
            so events repeat (each is stored as a new event).
            """)

    @OptionGroup var options: NodeOptions
    @Option(help: "Concurrent client connections.") var clients: Int = 50
    @Option(help: "Events to append in the measured run (default 100000).") var events: Int?
    @Option(help: "Append for this many seconds instead of a count of events.") var duration: Double?
    @Option(help: "Events per append request.") var batch: Int = 1
    @Option(help: "Events appended before measuring.") var warmup: Int = 5_000
    @Option(help: "Seed of the event generator.") var seed: UInt64 = 1
    @Option(
        name: .customLong("node-pid"),
        help: "The node's process id: its CPU time per request over the measured run is reported (from /proc/PID/stat).")
    var nodePID: Int32?
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard clients >= 1, batch >= 1 else { throw ValidationError("--clients and --batch must be at least 1") }
        if let nodePID, ProcessCPU.seconds(pid: nodePID) == nil { throw ValidationError("--node-pid \(nodePID): no such process") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more") }
        _ = try countOrDuration(count: events, duration: duration, countFlag: "--events", defaultCount: 100_000)
    }

    func run() async throws {
        let size = try countOrDuration(count: events, duration: duration, countFlag: "--events", defaultCount: 100_000)
        var bench = AppendBenchmark(
            node: try options.address(), clients: clients, events: size.count, batch: batch, warmup: warmup, seed: seed,
            duration: size.duration)
        bench.nodePID = nodePID
        let r = try await bench.run()
        let latency = LatencySummary(
            count: UInt64(r.requests), p50Millis: Double(r.p50Micros) / 1000, p99Millis: Double(r.p99Micros) / 1000,
            p999Millis: Double(r.p999Micros) / 1000, maxMillis: Double(r.maxMicros) / 1000)
        if json {
            var o = JSONLine()
            o.add("bench", "append")
            o.add("clients", clients)
            o.add("batch", batch)
            o.add("events", r.events)
            o.add("requests", r.requests)
            o.add("duration", size.duration)
            o.add("warmup", warmup)
            o.add("seconds", r.seconds)
            o.add("events_per_s", Int(r.eventsPerSecond))
            o.add(latency: latency)
            o.add("generator_cpu_us_per_request", r.generatorMicrosPerRequest, decimals: 1)
            o.add("node_cpu_us_per_request", r.nodeMicrosPerRequest, decimals: 1)
            print(o.text)
            return
        }
        let rows = [
            ["clients", "batch", "events", "requests", "seconds", "events/s"] + BenchOutput.latencyHeader + ["gen CPU/req", "node CPU/req"],
            ["\(clients)", "\(batch)", "\(r.events)", "\(r.requests)", BenchOutput.seconds(r.seconds), BenchOutput.rate(r.eventsPerSecond)]
                + BenchOutput.latencyCells(latency)
                + [Self.micros(r.generatorMicrosPerRequest), r.nodeMicrosPerRequest.map(Self.micros) ?? "-"],
        ]
        BenchOutput.table(rows, textColumns: 0).forEach { print($0) }
    }
}

extension BenchAppend {
    /// CPU microseconds, one decimal: `12.3 µs`.
    static func micros(_ value: Double) -> String { String(format: "%.1f µs", value) }
}

struct BenchImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Bulk import throughput of one client, through the path of `incidentctl import`.",
        discussion: """
            Writes --events generated events to a temporary JSONL file (not measured), then imports it into the \
            node: the clock runs from opening the file to the last acknowledgement. A request holds at most \
            --batch events and at most --max-request-bytes bytes, whichever comes first: with the node's defaults \
            (max_events_per_append 10000, max_line_bytes 1 MiB) and the generated events (about 320 bytes as \
            sent), that is about 3000 events per request. Latencies are per request. --warmup imports a file of other events \
            first. A count, not a duration: the file is written before the clock starts, so its size is fixed \
            beforehand.
            """)

    @OptionGroup var options: NodeOptions
    @Option(help: "Events to import in the measured run.") var events: Int = 100_000
    @Option(help: "Events per append request, at most (the node's max_events_per_append).")
    var batch: Int = JSONLImporter.maximumEventsPerRequest
    @Option(name: .customLong("max-request-bytes"), help: "Bytes per request line, at most (the node's max_line_bytes).")
    var maxRequestBytes: Int = JSONLImporter.defaultMaximumRequestBytes
    @Option(help: "Events imported before measuring.") var warmup: Int = 5_000
    @Option(help: "Seed of the event generator.") var seed: UInt64 = 1
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard events >= 1, batch >= 1 else { throw ValidationError("--events and --batch must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more") }
        guard maxRequestBytes >= 1024 else { throw ValidationError("--max-request-bytes must be at least 1024") }
    }

    func run() async throws {
        let bench = ImportBenchmark(
            node: try options.address(), events: events, warmup: warmup, batch: batch, maximumRequestBytes: maxRequestBytes, seed: seed)
        let r = try await bench.run(progress: BenchOutput.progress)
        if json {
            var o = JSONLine()
            o.add("bench", "import")
            o.add("clients", 1)
            o.add("batch", batch)
            o.add("max_request_bytes", maxRequestBytes)
            o.add("events", r.events)
            o.add("requests", r.requests)
            o.add("events_per_request", r.eventsPerRequest, decimals: 1)
            o.add("file_bytes", r.fileBytes)
            o.add("warmup", r.warmupEvents)
            o.add("seconds", r.seconds)
            o.add("events_per_s", Int(r.eventsPerSecond))
            o.add(latency: r.latency)
            print(o.text)
            return
        }
        let rows = [
            ["events", "requests", "events/request", "MiB", "seconds", "events/s"] + BenchOutput.latencyHeader,
            [
                "\(r.events)", "\(r.requests)", String(format: "%.0f", r.eventsPerRequest), String(format: "%.1f", Double(r.fileBytes) / 1_048_576),
                BenchOutput.seconds(r.seconds), BenchOutput.rate(r.eventsPerSecond),
            ] + BenchOutput.latencyCells(r.latency),
        ]
        BenchOutput.table(rows, textColumns: 0).forEach { print($0) }
    }
}

struct BenchQuery: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Sector, overview and incidents-list requests per second and latency while events are appended.",
        discussion: """
            Pre-fills the node with --prefill events (1000 per append, not measured) and waits until it has folded \
            them, so the views are not empty. Then --append-clients connections append --append-rate events/s in \
            all (open loop; 0: no append load) while --clients connections query, one request in flight each: \
            sector views (cycling through the sectors of the generator's sites), the overview, or both \
            alternately (--op both), or a page of --incidents-limit rows of the incidents list (--op incidents; \
            the first page, or with --incidents-depth N the page after N pages, whose cursor is found by walking \
            the list once before the warm-up), or all three in turn (--op all). --warmup requests first, then --requests in all or for --duration seconds (default 10 s). \
            Latency is request sent → response received. The line protocol's query connections are lean like \
            bench append's (pre-encoded requests, one plain channel handler each), so that they cost less than \
            the node they measure. Answers `rate_limited` (the node's requests_per_second \
            per connection) are counted apart, not as requests. With --http HOST:PORT (the node's HTTP listener) \
            each connection then runs the same warm-up and measured run over HTTP (GET /api/v1/sectors/NAME, \
            /api/v1/overview, /api/v1/incidents; keep-alive), under the same append load, and both are printed: the two protocols on \
            the same node in one run.
            """)

    @OptionGroup var options: NodeOptions
    @Option(help: "Query connections.") var clients: Int = 4
    @Option(help: "sector, overview, both (sector and overview), incidents, or all (the three).") var op: String = "both"
    @Option(name: .customLong("incidents-limit"), help: "Rows of an incidents page.") var incidentsLimit: Int = 50
    @Option(name: .customLong("incidents-depth"), help: "Pages of the incidents list before the measured page (0: the first).")
    var incidentsDepth: Int = 0
    @Option(help: "Queries in the measured run, across the clients.") var requests: Int?
    @Option(help: "Query for this many seconds (the default, 10, when --requests is not given).") var duration: Double?
    @Option(help: "Queries before measuring, across the clients.") var warmup: Int = 1_000
    @Option(name: .customLong("append-rate"), help: "Events per second appended while querying, in all; 0: none.")
    var appendRate: Int = 1_000
    @Option(name: .customLong("append-clients"), help: "Connections the append load is spread over.") var appendClients: Int = 4
    @Option(help: "Events appended before the run, so the views are not empty (0: none).") var prefill: Int = 100_000
    @Option(help: "Seed of the event generator.") var seed: UInt64 = 1
    @Option(help: "The node's HTTP listener, HOST:PORT: measure the same queries over HTTP too.") var http: String?
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        if let http, HostPort(http) == nil { throw ValidationError("--http: expected HOST:PORT, got \(http)") }
        guard QueryBenchmark.Operation(rawValue: op) != nil else {
            throw ValidationError("--op: expected sector, overview, both, incidents or all, got \(op)")
        }
        guard (1...1000).contains(incidentsLimit), incidentsDepth >= 0 else {
            throw ValidationError("--incidents-limit must be 1…1000 and --incidents-depth 0 or more")
        }
        guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard appendRate >= 0, prefill >= 0, warmup >= 0 else {
            throw ValidationError("--append-rate, --prefill and --warmup must be 0 or more")
        }
        guard appendRate == 0 || appendClients >= 1 else { throw ValidationError("--append-clients must be at least 1") }
        _ = try countOrDuration(count: requests, duration: duration, countFlag: "--requests", defaultCount: 1)
    }

    func run() async throws {
        let operation = QueryBenchmark.Operation(rawValue: op) ?? .both
        let length: QueryBenchmark.Length
        if let requests {
            length = .requests(requests)
        } else {
            length = .seconds(duration ?? 10)
        }
        var bench = QueryBenchmark(
            node: try options.address(), clients: clients, operation: operation, length: length, warmup: warmup,
            appendRate: appendRate, appendClients: appendClients, prefill: prefill, seed: seed)
        bench.http = http.flatMap { HostPort($0) }
        bench.incidentsLimit = incidentsLimit
        bench.incidentsDepth = incidentsDepth
        let r = try await bench.run(progress: BenchOutput.progress)
        if json {
            var o = JSONLine()
            o.add("bench", "query")
            o.add("op", op)
            o.add("incidents_limit", incidentsLimit)
            o.add("incidents_depth", incidentsDepth)
            o.add("clients", clients)
            o.add("requests", r.all.requests)
            if case .seconds(let d) = length { o.add("duration", d) } else { o.add("duration", nil as Double?) }
            o.add("warmup", warmup)
            o.add("seconds", r.seconds)
            o.add("requests_per_s", r.all.requestsPerSecond, decimals: 1)
            o.add(latency: r.all.latency)
            o.add("rate_limited", r.rateLimited)
            o.add("operations", Self.operationsJSON(r.operations))
            if let h = r.overHTTP {
                var x = JSONLine()
                x.add("requests", h.all.requests)
                x.add("seconds", h.seconds)
                x.add("requests_per_s", h.all.requestsPerSecond, decimals: 1)
                x.add(latency: h.all.latency)
                x.add("rate_limited", h.rateLimited)
                x.add("operations", Self.operationsJSON(h.operations))
                o.add("http", x)
            }
            o.add("prefill", r.prefilled)
            o.add("events_at_start", r.eventsAtStart)
            o.add("folded_at_start", r.foldedAtStart)
            o.add("append_rate", r.appendRate)
            o.add("append_clients", r.appendClients)
            o.add("appended", r.appended)
            o.add("append_events_per_s", r.achievedAppendRate, decimals: 1)
            o.add(latency: r.appendLatency, prefix: "append_")
            print(o.text)
            return
        }
        let http = r.overHTTP != nil
        var rows = [(http ? ["protocol"] : []) + ["op", "clients", "requests", "seconds", "req/s"] + BenchOutput.latencyHeader]
        let phases = [("line", r.operations, r.seconds)] + (r.overHTTP.map { [("http", $0.operations, $0.seconds)] } ?? [])
        for (name, operations, seconds) in phases {
            for op in operations {
                rows.append(
                    (http ? [name] : [])
                        + [op.operation, "\(clients)", "\(op.requests)", BenchOutput.seconds(seconds), BenchOutput.rate(op.requestsPerSecond)]
                        + BenchOutput.latencyCells(op.latency))
            }
        }
        BenchOutput.table(rows, textColumns: http ? 2 : 1).forEach { print($0) }
        if let h = r.overHTTP, r.all.requestsPerSecond > 0 {
            print(String(format: "http / line: %.2f× the requests per second", h.all.requestsPerSecond / r.all.requestsPerSecond))
        }
        print("views: \(r.eventsAtStart) events held, \(r.foldedAtStart) folded when measuring began")
        if r.appendRate > 0 {
            let l = r.appendLatency
            print(
                "append load: \(r.appendRate) events/s asked on \(r.appendClients) connections, "
                    + "\(BenchOutput.rate(r.achievedAppendRate)) events/s acknowledged while measuring (\(r.appended) events); "
                    + "per request p50 \(BenchOutput.ms(l.p50Millis)) ms, p99 \(BenchOutput.ms(l.p99Millis)) ms")
        } else {
            print("append load: none")
        }
        let limited = r.rateLimited + (r.overHTTP?.rateLimited ?? 0)
        if limited > 0 {
            print("rate_limited: \(limited) answers (the node's requests_per_second per connection caps the rate)")
        }
    }
}

extension BenchQuery {
    /// One object per operation run (not `all`): op, requests, requests_per_s, latencies.
    static func operationsJSON(_ operations: [QueryBenchmark.OperationResult]) -> [JSONLine] {
        operations.filter { $0.operation != "all" }.map { op in
            var x = JSONLine()
            x.add("op", op.operation)
            x.add("requests", op.requests)
            x.add("requests_per_s", op.requestsPerSecond, decimals: 1)
            x.add(latency: op.latency)
            return x
        }
    }
}

struct BenchStream: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Latency from an append to its frame on the HTTP event stream.",
        discussion: """
            A reader holds GET /api/v1/stream open on the node's HTTP listener (--http); --appends events are \
            appended over the client protocol one at a time, --interval-ms apart. Latency: the append request sent \
            → its `stored` frame received by the reader (so it holds the append's fdatasync); the appends' own \
            acknowledgement latency is printed beside it.
            """)

    @OptionGroup var options: NodeOptions
    @Option(help: "The node's HTTP listener, HOST:PORT.") var http: String = "127.0.0.1:7480"
    @Option(help: "Events appended, one per request.") var appends: Int = 100
    @Option(name: .customLong("interval-ms"), help: "Milliseconds between an acknowledgement and the next append.") var intervalMillis: Int = 20
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard HostPort(http) != nil else { throw ValidationError("--http: expected HOST:PORT, got \(http)") }
        guard appends >= 1, intervalMillis >= 0 else { throw ValidationError("--appends must be at least 1, --interval-ms 0 or more") }
    }

    func run() async throws {
        let bench = StreamLatencyBenchmark(node: try options.address(), http: HostPort(http)!, appends: appends, intervalMillis: intervalMillis)
        let r = try await bench.run(progress: BenchOutput.progress)
        if json {
            var o = JSONLine()
            o.add("bench", "stream")
            o.add("appends", r.appends)
            o.add("interval_ms", intervalMillis)
            o.add(latency: r.latency)
            o.add(latency: r.appendLatency, prefix: "append_")
            print(o.text)
            return
        }
        let rows = [
            ["measure", "count"] + BenchOutput.latencyHeader,
            ["append sent → stored frame on the stream", "\(r.latency.count)"] + BenchOutput.latencyCells(r.latency),
            ["append sent → acknowledged", "\(r.appendLatency.count)"] + BenchOutput.latencyCells(r.appendLatency),
        ]
        BenchOutput.table(rows).forEach { print($0) }
    }
}

struct BenchSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Catch-up of a new node from a peer, and live replication lag; starts its own two nodes on loopback.",
        discussion: """
            Uses the incidentd binary beside incidentctl (or $INCIDENTD_BIN). The new node stores under --fsync. \
            Catch-up is a count (--events), not a duration, and has no warm-up: it is the time a cold new node \
            takes to hold a log of that size. Live lag runs for --lag-seconds after --warmup seconds of the same \
            load that are not recorded.
            """)

    @Option(help: "Events the new node catches up.") var events: Int = 1_000_000
    @Option(help: "fsync policy of the catching-up node: always or never.") var fsync: String = "always"
    @Option(help: "Append rate on the source while measuring lag, events/s.") var rate: Int = 10_000
    @Option(name: .customLong("lag-seconds"), help: "How long to measure live lag.") var lagSeconds: Int = 10
    @Option(help: "Seconds of live load before lag is recorded.") var warmup: Int = 1
    @Option(help: "Seed of the event generator.") var seed: UInt64 = 1
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard events >= 1, rate >= 1, lagSeconds >= 1 else { throw ValidationError("--events, --rate and --lag-seconds must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more") }
        guard ["always", "never"].contains(fsync) else { throw ValidationError("--fsync: expected always or never, got \(fsync)") }
    }

    func run() async throws {
        let bench = SyncBenchmark(events: events, fsync: fsync, rate: rate, lagSeconds: lagSeconds, seed: seed, warmupSeconds: warmup)
        let r = try await bench.run(progress: BenchOutput.progress)
        func ms(_ micros: UInt64) -> Double { Double(micros) / 1000 }
        if json {
            var o = JSONLine()
            o.add("bench", "sync")
            o.add("events", r.events)
            o.add("fsync", fsync)
            o.add("catch_up_seconds", r.catchUpSeconds)
            o.add("catch_up_events_per_s", Int(r.catchUpPerSecond))
            o.add("lag_rate", rate)
            o.add("lag_seconds", lagSeconds)
            o.add("warmup_seconds", warmup)
            o.add("lag_samples", r.lagSamples)
            o.add("lag_p50_ms", ms(r.lagP50Micros))
            o.add("lag_p99_ms", ms(r.lagP99Micros))
            o.add("lag_max_ms", ms(r.lagMaxMicros))
            print(o.text)
            return
        }
        let rows = [
            ["measure", "events", "seconds", "events/s", "p50 ms", "p99 ms", "max ms"],
            ["catch-up (fsync \(fsync), verified)", "\(r.events)", BenchOutput.seconds(r.catchUpSeconds), BenchOutput.rate(r.catchUpPerSecond), "-", "-", "-"],
            [
                "live lag (ack on source → new node's log)", "\(r.lagSamples)", "\(lagSeconds)", "\(rate)", BenchOutput.ms(ms(r.lagP50Micros)),
                BenchOutput.ms(ms(r.lagP99Micros)), BenchOutput.ms(ms(r.lagMaxMicros)),
            ],
        ]
        BenchOutput.table(rows).forEach { print($0) }
    }
}

struct BenchRebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Projection fold of a whole log (events/s), snapshot write/load, and start-up time with a snapshot.",
        discussion: """
            Writes its own log in a temporary directory; the start-up part uses the incidentd binary beside \
            incidentctl. A count (--events), not a duration: a rebuild folds a whole log. --warmup fold runs \
            come first and are not counted; the median of --runs is reported.
            """)

    @Option(help: "Events in the log.") var events: Int = 1_000_000
    @Option(help: "Fold runs; the median is reported.") var runs: Int = 3
    @Option(help: "Fold runs before the measured ones.") var warmup: Int = 1
    @Option(help: "Seed of the event generator.") var seed: UInt64 = 1
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard events >= 1, runs >= 1 else { throw ValidationError("--events and --runs must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be 0 or more") }
    }

    func run() async throws {
        let r = try await RebuildBenchmark(events: events, runs: runs, seed: seed, warmup: warmup).run(progress: BenchOutput.progress)
        if json {
            var o = JSONLine()
            o.add("bench", "rebuild")
            o.add("events", r.events)
            o.add("runs", r.foldSeconds.count)
            o.add("warmup_runs", warmup)
            o.add("events_per_s", Int(r.medianEventsPerSecond))
            o.add("fold_seconds", r.foldSeconds)
            o.add("quarantined", Int(r.quarantined))
            o.add("snapshot_bytes", r.snapshotBytes)
            o.add("snapshot_write_seconds", r.snapshotWriteSeconds)
            o.add("snapshot_load_seconds", r.snapshotLoadSeconds)
            o.add("startup_with_snapshot_seconds", r.startupWithSnapshotSeconds)
            if let rss = r.startupRSSBytes { o.add("startup_rss_bytes", Int(rss)) } else { o.add("startup_rss_bytes", nil as Double?) }
            print(o.text)
            return
        }
        var rows = [
            ["measure", "result"],
            [
                "fold, \(r.events) events",
                "median \(BenchOutput.rate(r.medianEventsPerSecond)) events/s over \(r.foldSeconds.count) runs ("
                    + r.foldSeconds.map { String(format: "%.2f s", $0) }.joined(separator: ", ") + "), \(r.quarantined) quarantined",
            ],
            [
                "snapshot",
                "\(r.snapshotBytes / 1024) KiB, write \(String(format: "%.3f", r.snapshotWriteSeconds)) s, "
                    + "load \(String(format: "%.3f", r.snapshotLoadSeconds)) s",
            ],
        ]
        if let s = r.startupWithSnapshotSeconds {
            rows.append(
                ["start-up with the snapshot", "incidentd ready in \(String(format: "%.2f", s)) s" + (r.startupRSSBytes.map { ", RSS \($0 >> 20) MiB" } ?? "")])
        }
        BenchOutput.table(rows, textColumns: 2).forEach { print($0) }
    }
}

struct BenchLink: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link",
        abstract: "Peer sync over a field link (slow, late, cut): backlog convergence, overhead, fresh-event latency.",
        discussion: """
            Starts its own nodes on loopback (the incidentd binary beside incidentctl, or $INCIDENTD_BIN), fsync on: \
            bamako, and gao, which dials bamako through a proxy that paces each direction at --rate, adds \
            --latency-ms one way and cuts every connection at random moments --cut-min to --cut-max seconds apart \
            (from --seed). Gao is given --backlog generated events (imported) and --bundle events of a third node \
            (ingested as a bundle) before the link comes up; then --fresh medevac.requested events are appended at \
            Gao one by one while the backlog drains. Reports the time until Bamako holds the backlog and until its \
            vector equals Gao's (or --timeout), link bytes (both ways) per byte of event lines Bamako stores, the \
            latency from Gao's acknowledgement of a fresh event to its being stored at Bamako (vector or `held`, \
            polled every 75 ms), cuts and sessions (connections the proxy accepted). Progress goes to stderr.
            """)

    @Option(help: "Link rate, bytes/s in each direction.") var rate: Int = 8_000
    @Option(name: .customLong("latency-ms"), help: "One-way latency, ms.") var latencyMs: Int = 300
    @Option(name: .customLong("cut-min"), help: "Shortest interval between cuts, seconds.") var cutMin: Double = 7.5
    @Option(name: .customLong("cut-max"), help: "Longest interval between cuts, seconds.") var cutMax: Double = 22.5
    @Flag(name: .customLong("no-cuts"), help: "Never cut the link.") var noCuts = false
    @Option(help: "Events imported at Gao before the link comes up.") var backlog: Int = 2_000
    @Option(help: "Events of a third node ingested at Gao as a bundle after the import (0: none).") var bundle: Int = 100
    @Option(help: "medevac.requested events appended at Gao one by one while the backlog drains.") var fresh: Int = 20
    @Option(name: .customLong("fresh-interval"), help: "Seconds between fresh events (default: 1).")
    var freshInterval: Double?
    @Option(help: "Seed of the event generator and of the cut schedule.") var seed: UInt64 = 1
    @Option(help: "Give up after this many seconds from the link coming up.") var timeout: Double = 600
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        guard rate >= 1 else { throw ValidationError("--rate must be at least 1") }
        guard latencyMs >= 0 else { throw ValidationError("--latency-ms must be 0 or more") }
        guard noCuts || (cutMin > 0 && cutMax >= cutMin) else { throw ValidationError("--cut-min must be above 0 and at most --cut-max") }
        guard backlog >= 0, bundle >= 0, fresh >= 0 else { throw ValidationError("--backlog, --bundle and --fresh must be 0 or more") }
        guard timeout > 0 else { throw ValidationError("--timeout must be above 0") }
        if let freshInterval, freshInterval <= 0 { throw ValidationError("--fresh-interval must be above 0") }
    }

    func run() async throws {
        let cuts = noCuts ? nil : CutSchedule(minimum: .milliseconds(Int64(cutMin * 1000)), maximum: .milliseconds(Int64(cutMax * 1000)), seed: seed)
        let profile = LinkProfile(bytesPerSecond: rate, latency: .milliseconds(latencyMs), cuts: cuts)
        let bench = LinkBenchmark(
            profile: profile, backlog: backlog, bundle: bundle, fresh: fresh,
            freshInterval: freshInterval.map { .milliseconds(Int64($0 * 1000)) }, seed: seed,
            timeout: .milliseconds(Int64(timeout * 1000)), handleSignals: true)
        let r = try await bench.run(progress: BenchOutput.progress)
        if json {
            var o = JSONLine()
            o.add("bench", "link")
            o.add("rate", rate)
            o.add("latency_ms", latencyMs)
            o.add("cut_min", noCuts ? nil : cutMin, decimals: 1)
            o.add("cut_max", noCuts ? nil : cutMax, decimals: 1)
            o.add("seed", Int(truncatingIfNeeded: seed))
            o.add("backlog", r.backlogEvents)
            o.add("bundle", r.bundleEvents)
            o.add("fresh", r.freshAppended)
            o.add("timeout", timeout, decimals: 1)
            o.add("converged", r.convergedSeconds != nil ? "yes" : "no")
            o.add("backlog_converged_seconds", r.backlogConvergedSeconds)
            o.add("converged_seconds", r.convergedSeconds)
            o.add("seconds", r.seconds)
            o.add("events_gao", r.eventsAtGao)
            o.add("events_bamako", r.eventsAtBamako)
            o.add("link_bytes_to_bamako", r.linkBytesToBamako)
            o.add("link_bytes_to_gao", r.linkBytesToGao)
            o.add("link_bytes_dropped", r.linkBytesDropped)
            o.add("stored_bytes", r.storedBytes)
            o.add("link_bytes_per_stored_byte", r.linkBytesPerStoredByte)
            o.add("fresh_arrived", r.freshLatenciesMillis.count)
            o.add("fresh_missing", r.freshMissing)
            o.add("fresh_via_held", r.freshSeenHeld)
            o.add("fresh_p50_ms", r.freshP50Millis, decimals: 1)
            o.add("fresh_max_ms", r.freshMaxMillis, decimals: 1)
            o.add("cuts", r.cuts)
            o.add("sessions", r.sessions)
            print(o.text)
            return
        }
        func s(_ x: Double?) -> String { x.map { String(format: "%.1f s", $0) } ?? "not within \(BenchOutput.seconds(timeout)) s" }
        func ms(_ x: Double?) -> String { x.map { String(format: "%.0f ms", $0) } ?? "-" }
        let rows = [
            ["measure", "result"],
            ["link", LinkBenchmark.describe(profile)],
            ["events at bamako / gao", "\(r.eventsAtBamako) / \(r.eventsAtGao) (backlog \(r.backlogEvents), bundle \(r.bundleEvents), fresh \(r.freshAppended))"],
            ["backlog converged", s(r.backlogConvergedSeconds)],
            ["vectors equal", s(r.convergedSeconds)],
            [
                "link bytes per stored byte",
                (r.linkBytesPerStoredByte.map { String(format: "%.2f", $0) } ?? "-")
                    + " (\(r.linkBytesToBamako + r.linkBytesToGao) link bytes, \(r.storedBytes) stored at bamako)",
            ],
            [
                "fresh: gao ack → stored at bamako",
                "p50 \(ms(r.freshP50Millis)), max \(ms(r.freshMaxMillis)); \(r.freshLatenciesMillis.count) arrived, \(r.freshMissing) never",
            ],
            ["cuts / sessions", "\(r.cuts) / \(r.sessions)"],
        ]
        BenchOutput.table(rows, textColumns: 2).forEach { print($0) }
    }
}

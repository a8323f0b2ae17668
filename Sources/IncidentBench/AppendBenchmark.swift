public import IncidentClient
import Histogram
import NIOCore
import NIOPosix
public import Wire

#if canImport(Glibc)
import Glibc
#endif

/// `incidentctl bench append`: closed-loop load like redis-benchmark. Each client has its own
/// connection and keeps one append request of `batch` events in flight; latency is request sent →
/// acknowledgement received, recorded in an HdrHistogram (microseconds).
///
/// The generator is lean, so that it measures the node rather than itself: every request is
/// encoded, as the bytes its connection writes, and every connection is made and authenticated
/// before the clock starts, and then all start at once; each connection is one plain NIO channel
/// handler on the event loops (no task per request), and an answer is only split at its newline
/// and checked to open with `{"ok":true` (the request's event count is known). The CPU time both
/// sides spend per request is reported: the generator's own (getrusage) and, given the node's
/// pid, the node's (/proc/PID/stat), over the measured run.
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
    /// The node's process, whose CPU time over the measured run is reported; nil: not reported.
    public var nodePID: Int32?

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
        /// User + system CPU seconds of the generator's process over the measured run.
        public var generatorCPUSeconds: Double
        /// User + system CPU seconds of the node's process over the measured run (nil: no pid).
        public var nodeCPUSeconds: Double?

        /// CPU microseconds per request: the generator's, and the node's.
        public var generatorMicrosPerRequest: Double { requests > 0 ? generatorCPUSeconds * 1e6 / Double(requests) : 0 }
        public var nodeMicrosPerRequest: Double? { nodeCPUSeconds.map { requests > 0 ? $0 * 1e6 / Double(requests) : 0 } }
    }

    public func run() async throws -> Result {
        // Requests are built, as the bytes each connection writes, before the clock starts, so
        // the generator is not measured.
        func prepare(total: Int, seedOffset: UInt64) -> [[AppendLoadHandler.Request]] {
            let perClient = (total + clients - 1) / clients
            return (0..<clients).map { c in
                var generator = EventGenerator(seed: seed &+ seedOffset &+ UInt64(c))
                var left = max(0, min(perClient, total - c * perClient))
                var requests: [AppendLoadHandler.Request] = []
                while left > 0 {
                    let n = min(batch, left)
                    let line = Requests.append(eventObjects: (0..<n).map { _ in generator.nextObject() })
                    requests.append(AppendLoadHandler.Request(line, events: n))
                    left -= n
                }
                return requests
            }
        }
        if warmup > 0 {
            let load = try await connect(prepare(total: warmup, seedOffset: 1 << 32))
            _ = try await load.run(until: nil)
        }
        let measured = prepare(total: duration == nil ? events : max(clients * batch, Self.durationPoolEvents), seedOffset: 0)
        let load = try await connect(measured)
        let nodeCPUBefore = nodePID.flatMap(ProcessCPU.seconds(pid:))
        let ownCPUBefore = ProcessCPU.ownSeconds()
        let start = MonotonicClock.now()
        let histograms = try await load.run(until: duration.map { start + UInt64($0 * 1e9) })
        let seconds = Double(MonotonicClock.now() - start) / 1e9
        let ownCPU = ProcessCPU.ownSeconds() - ownCPUBefore
        let nodeCPU = nodeCPUBefore.flatMap { before in nodePID.flatMap(ProcessCPU.seconds(pid:)).map { $0 - before } }
        var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for h in histograms { merged.add(h.histogram) }
        let stored = histograms.reduce(0) { $0 + $1.stored }
        let requests = histograms.reduce(0) { $0 + $1.requests }
        if duration == nil && stored != events { throw BenchmarkError("the node acknowledged \(stored) of \(events) events") }
        return Result(
            events: stored, requests: requests, seconds: seconds, eventsPerSecond: Double(stored) / seconds,
            p50Micros: merged.valueAtPercentile(50), p99Micros: merged.valueAtPercentile(99),
            p999Micros: merged.valueAtPercentile(99.9), maxMicros: merged.max, generatorCPUSeconds: ownCPU, nodeCPUSeconds: nodeCPU)
    }

    /// Every client's connection, made and authenticated, each holding its requests and not yet
    /// sending: the clock starts after this, then `Load.run` starts them all.
    func connect(_ perClient: [[AppendLoadHandler.Request]]) async throws -> Load {
        let auth = LeanConnection.authLine(endpoint)
        var load = Load()
        do {
            for requests in perClient where !requests.isEmpty {
                let loop = MultiThreadedEventLoopGroup.singleton.next()
                let ready = loop.makePromise(of: Void.self)
                let done = loop.makePromise(of: AppendLoadHandler.Outcome.self)
                let channel: any Channel
                do {
                    channel = try await LeanConnection.connect(to: endpoint, on: loop) {
                        AppendLoadHandler(requests: requests, auth: auth, ready: ready, done: done)
                    }
                } catch {
                    ready.fail(error)
                    done.fail(error)
                    throw error
                }
                load.channels.append(channel)
                load.runs.append(done.futureResult)
                try await ready.futureResult.get()
            }
        } catch {
            for c in load.channels { c.close(promise: nil) }
            throw error
        }
        return load
    }

    /// Connections that `connect` made, ready to send.
    struct Load {
        var channels: [any Channel] = []
        var runs: [EventLoopFuture<AppendLoadHandler.Outcome>] = []

        /// Starts every connection, one request in flight each — each request once, or over and
        /// over until `deadline` (CLOCK_MONOTONIC ns) when one is given; returns each client's
        /// outcome (latencies, events acknowledged, requests made). Closes the connections.
        func run(until deadline: UInt64?) async throws -> [AppendLoadHandler.Outcome] {
            defer { for c in channels { c.close(promise: nil) } }
            for c in channels { c.pipeline.fireUserInboundEventTriggered(AppendLoadHandler.Start(deadline: deadline)) }
            var all: [AppendLoadHandler.Outcome] = []
            for run in runs { all.append(try await run.get()) }
            return all
        }
    }
}

/// One connection of `bench append`: sends the token (if any) and completes `ready` once it is
/// accepted; on `Start`, sends each pre-encoded request once its predecessor is answered,
/// recording the latency of each; completes `done` after the last answer (or at the deadline),
/// fails both on a refusal or a closed connection.
final class AppendLoadHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// A request line with its newline, as written, and how many events it appends.
    struct Request: Sendable {
        var line: ByteBuffer
        var events: Int

        /// The request `line` (without its newline) appending `events` events.
        init(_ line: [UInt8], events: Int) {
            var buffer = ByteBuffer()
            buffer.reserveCapacity(line.count + 1)
            buffer.writeBytes(line)
            buffer.writeInteger(UInt8(ascii: "\n"))
            self.line = buffer
            self.events = events
        }
    }

    /// The user event that starts the requests, with the deadline of a timed run.
    struct Start: Sendable {
        var deadline: UInt64?
    }

    struct Outcome: Sendable {
        var histogram: Histogram<UInt64>
        var stored: Int
        var requests: Int
    }

    let requests: [Request]
    let auth: ByteBuffer?
    let ready: EventLoopPromise<Void>
    let done: EventLoopPromise<Outcome>
    var deadline: UInt64? = nil
    var outcome = Outcome(histogram: Histogram(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three), stored: 0, requests: 0)
    var authenticating = false
    var started = false
    var next = 0
    var sentAt: UInt64 = 0
    var lines = AnswerLines()
    var finished = false

    init(requests: [Request], auth: ByteBuffer?, ready: EventLoopPromise<Void>, done: EventLoopPromise<Outcome>) {
        self.requests = requests
        self.auth = auth
        self.ready = ready
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        if let auth {
            authenticating = true
            context.writeAndFlush(wrapOutboundOut(auth), promise: nil)
        } else {
            ready.succeed(())
        }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let start = event as? Start else { return context.fireUserInboundEventTriggered(event) }
        guard !started, !finished else { return }
        started = true
        deadline = start.deadline
        sendNext(context: context)
    }

    func sendNext(context: ChannelHandlerContext) {
        let more = deadline.map { MonotonicClock.now() < $0 } ?? (next < requests.count)
        guard more else {
            finish(context: context, .success(outcome))
            return
        }
        sentAt = MonotonicClock.now()
        context.writeAndFlush(wrapOutboundOut(requests[next % requests.count].line), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        lines.read(&buffer) { line in
            answered(line, context: context)
            return !finished
        }
    }

    func answered(_ line: [UInt8], context: ChannelHandlerContext) {
        guard line.starts(with: AnswerLines.okPrefix) else {
            let text = String(decoding: line.prefix(300), as: UTF8.self)
            finish(context: context, .failure(BenchmarkError("the node refused a request: \(text)")))
            return
        }
        if authenticating {
            authenticating = false
            ready.succeed(())
            return
        }
        guard started else {
            finish(context: context, .failure(BenchmarkError("the node answered a request that was not sent")))
            return
        }
        _ = outcome.histogram.record(min((MonotonicClock.now() - sentAt) / 1000, 60_000_000))
        outcome.stored += requests[next % requests.count].events
        outcome.requests += 1
        next += 1
        sendNext(context: context)
    }

    func finish(context: ChannelHandlerContext, _ result: Result<Outcome, any Error>) {
        guard !finished else { return }
        finished = true
        switch result {
        case .success: ready.succeed(())
        case .failure(let error): ready.fail(error)
        }
        done.completeWith(result)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context: context, .failure(BenchmarkError("the node closed a connection after \(outcome.requests) requests")))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context: context, .failure(error))
    }
}

/// CPU time (user + system) of processes, for the CPU cost per request of a benchmark.
public enum ProcessCPU {
    /// This process's CPU seconds so far (getrusage).
    public static func ownSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// The CPU seconds so far of process `pid`: utime + stime of /proc/PID/stat (fields 14 and
    /// 15, in clock ticks); nil when there is no such process.
    public static func seconds(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        return seconds(stat: text, ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))))
    }

    /// utime + stime of a /proc/PID/stat line, in seconds. The command name (field 2, in
    /// parentheses) may hold spaces and parentheses, so fields are counted after its last `)`.
    public static func seconds(stat: String, ticksPerSecond: Double) -> Double? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): utime (14) and stime (15) are fields[11] and fields[12].
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]), ticksPerSecond > 0 else { return nil }
        return (user + system) / ticksPerSecond
    }
}

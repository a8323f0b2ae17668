import IncidentClient
import NIOCore

/// One query connection of `bench query` over the line protocol, lean like `bench append`'s: it
/// cycles through pre-encoded request lines, one in flight; an answer is only split at its
/// newline and checked to open with `{"ok":true`.
///
/// It sends the auth line first when given, then its share of the warm-up (not measured), then
/// completes `warmedUp` and waits for `Begin` (a user event: every connection starts measuring
/// at once). It measures until the deadline, or for its share of the requests, and completes
/// `done` with each kind's latencies. A `rate_limited` answer is counted apart and its request
/// sent again 1 ms later (the bucket refills); any other refusal, or the connection closing,
/// fails `done`.
final class QueryLoadHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Starts the measured run: until `deadline` (CLOCK_MONOTONIC ns), or `requests` answers.
    struct Begin: Sendable {
        var deadline: UInt64?
        var requests: Int?
    }

    enum Phase {
        case authenticating, warmingUp, waiting, measuring, finished
    }

    let cycle: [(kind: Int, line: ByteBuffer)]
    let auth: ByteBuffer?
    var warmupLeft: Int
    let warmedUp: EventLoopPromise<Void>
    let done: EventLoopPromise<QueryBenchmark.QueryOutcome>
    var phase = Phase.warmingUp
    var begin = Begin()
    var outcome = QueryBenchmark.QueryOutcome()
    var measured = 0
    var next = 0
    var sentAt: UInt64 = 0
    var lines = AnswerLines()

    static let rateLimited = Array(#""code":"rate_limited""#.utf8)

    init(
        cycle: [(kind: Int, line: ByteBuffer)], auth: ByteBuffer?, warmup: Int, warmedUp: EventLoopPromise<Void>,
        done: EventLoopPromise<QueryBenchmark.QueryOutcome>
    ) {
        self.cycle = cycle
        self.auth = auth
        self.warmupLeft = warmup
        self.warmedUp = warmedUp
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        if let auth {
            phase = .authenticating
            context.writeAndFlush(wrapOutboundOut(auth), promise: nil)
        } else {
            warmUp(context: context)
        }
        context.fireChannelActive()
    }

    func warmUp(context: ChannelHandlerContext) {
        if warmupLeft > 0 {
            phase = .warmingUp
            send(context: context)
        } else {
            phase = .waiting
            warmedUp.succeed()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let start = event as? Begin else { return context.fireUserInboundEventTriggered(event) }
        guard case .waiting = phase else { return }
        begin = start
        phase = .measuring
        if begin.requests == 0 || begin.deadline.map({ MonotonicClock.now() >= $0 }) == true {
            finish(context: context)
        } else {
            send(context: context)
        }
    }

    func send(context: ChannelHandlerContext) {
        sentAt = MonotonicClock.now()
        context.writeAndFlush(wrapOutboundOut(cycle[next % cycle.count].line), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        lines.read(&buffer) { line in
            answered(line, context: context)
            if case .finished = phase { return false }
            return true
        }
    }

    func answered(_ bytes: [UInt8], context: ChannelHandlerContext) {
        let now = MonotonicClock.now()
        guard bytes.starts(with: AnswerLines.okPrefix) else {
            if case .authenticating = phase {
            } else if bytes.firstRange(of: Self.rateLimited) != nil {
                if case .measuring = phase { outcome.rateLimited += 1 }
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(1)) {
                    let (handler, context) = bound.value
                    if case .finished = handler.phase { return }
                    handler.send(context: context)
                }
                return
            }
            let text = String(decoding: bytes.prefix(300), as: UTF8.self)
            finish(context: context, failing: BenchmarkError("the node refused a query: \(text)"))
            return
        }
        switch phase {
        case .authenticating:
            warmUp(context: context)
        case .warmingUp:
            next += 1
            warmupLeft -= 1
            if warmupLeft > 0 {
                send(context: context)
            } else {
                phase = .waiting
                warmedUp.succeed()
            }
        case .measuring:
            outcome.latency[cycle[next % cycle.count].kind].record(nanos: now - sentAt)
            next += 1
            measured += 1
            if begin.requests.map({ measured >= $0 }) == true || begin.deadline.map({ now >= $0 }) == true {
                finish(context: context)
            } else {
                send(context: context)
            }
        case .waiting, .finished:
            break
        }
    }

    /// Ends the connection: `done` gets the outcome, or `error` (and so does `warmedUp` when the
    /// warm-up had not ended).
    func finish(context: ChannelHandlerContext, failing error: (any Error)? = nil) {
        let warming: Bool
        switch phase {
        case .finished: return
        case .authenticating, .warmingUp: warming = true
        case .waiting, .measuring: warming = false
        }
        phase = .finished
        outcome.finished = MonotonicClock.now()
        if let error {
            if warming { warmedUp.fail(error) }
            done.fail(error)
        } else {
            done.succeed(outcome)
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context: context, failing: BenchmarkError("the node closed a query connection after \(measured) measured queries"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(context: context, failing: error)
    }
}

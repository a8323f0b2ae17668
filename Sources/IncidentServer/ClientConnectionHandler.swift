import EventStore
import Logging
import NIOCore
import Wire

#if os(Linux)
import Glibc

/// glibc's `malloc_trim` (malloc.h, which the Glibc module does not export): gives free pages of
/// every arena back to the system.
@_silgen_name("malloc_trim")
private func mallocTrim(_ pad: Int) -> Int32
#endif

/// One client connection, served on its channel's event loop: the request lines the line decoder
/// delivers go through the rate limit, authentication and the request handler, and the answers
/// go back in request order.
///
/// The append path costs no task and no thread hop: an append line is parsed and checked on the
/// event loop and submitted to the store (`EventStore.submitAppend`), which commits it on this
/// thread when the writer is idle, no line arrived after it and no other connection of this
/// loop is being served (`LoopTraffic`); the answer is written on the event loop. Appends
/// pipelined on one connection are submitted one after the other without waiting for the
/// previous answer (the store commits them in order, so they land in order). Every other request
/// (queries, reads, `status`, `ingest`, an office's appends) waits
/// for the answers before it, then runs as a task (`RequestHandler.respond`), and the lines after
/// it wait for its answer, so each sees the effect of every request sent before it. A line over
/// `RequestHandler.inlineLineLimit` (an import's append of thousands of events) is parsed off
/// the event loop on every core while the append before it commits, then submitted the same way.
///
/// Answers are written without a flush and flushed once per read (`channelReadComplete`) or, for
/// answers a group commit completes, once per event-loop tick; an append committed on the event
/// loop is flushed at once, before the store wakes its subscribers (the fold). A view copied from
/// the published views (`ViewAnswer`) is written once, straight into the channel's buffer.
///
/// Limits, as `ClientListener` describes: while the channel is unwritable (more than
/// `max_pending_output_bytes` unread) no request is handled and nothing more is read; past
/// `slow_consumer_timeout_ms` the connection is answered `slow_consumer` and closed. Once
/// `ClientListener.bufferedLines` lines wait, or `ClientListener.answersInFlight` answers (appends
/// being committed), the socket is no longer read.
final class ClientConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What arrived and is not handled yet, in order.
    enum Input {
        case line(ByteBuffer)
        /// A request that waits for every earlier answer, then runs as a task.
        case request(ClientRequest, shuttingDown: Bool)
        /// A long line, parsed off the event loop once at most one answer before it is pending
        /// (`parseLong`), then handled as a short line is.
        case longLine([UInt8], shuttingDown: Bool)
        /// The last answer, after every earlier one; then the connection closes.
        case closeAfter([UInt8])
        case lineTooLong(limit: Int)
        /// The client half-closed: close once every answer is written.
        case end
    }

    let listener: ClientListener
    var context: ChannelHandlerContext!
    var id: Int?
    /// Busy and last request, for the reaper and shutdown (`ConnectionRegistry`); nil unless
    /// registered, as `id`.
    var activity: ConnectionActivity?
    var peer = "?"
    var state = RequestHandler.ConnectionState()
    var bucket: TokenBucket
    var inputs = CircularBuffer<Input>()
    /// Answers not written yet, in request order; nil while its append is being committed.
    var answers = CircularBuffer<ByteBuffer?>()
    /// The request number of `answers.first`.
    var answered = 0
    /// A request runs as a task; nothing after it is handled until its answer.
    var running = false
    /// Closing: nothing more is handled or written.
    var stopped = false
    var unflushed = false
    var flushScheduled = false
    var readHeld = false
    /// `pump` is on the stack (an append committed on this thread answers from inside it).
    var pumping = false
    var markedAuthenticated = false
    var slowConsumerTimer: Scheduled<Void>?
    /// The requests of this event loop's connections (`LoopTraffic`).
    let traffic: LoopTraffic

    init(listener: ClientListener, traffic: LoopTraffic) {
        self.listener = listener
        self.traffic = traffic
        self.bucket = TokenBucket(rate: listener.limits.requestsPerSecond, burst: listener.limits.requestBurst, now: .now)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        admit(context.channel)
        context.fireChannelActive()
    }

    /// Registers the connection under the connection limits (`ConnectionRegistry.admit`).
    func admit(_ channel: any Channel) {
        peer = channel.remoteAddress?.description ?? "?"
        let limits = listener.limits
        let logger = listener.logger
        let admission = listener.connections.admit(channel, address: channel.remoteAddress?.ipAddress ?? "?", limits: limits)
        if let evicted = admission.evicted {
            logger.notice(
                "connection limit reached; closing the oldest unauthenticated connection",
                metadata: ["client.peer": "\(evicted.remoteAddress?.description ?? "?")", "client.newcomer": "\(peer)"])
            let error = WireError(
                .tooManyConnections,
                "too many open connections (at most \(limits.maximumConnections), \(limits.maximumConnectionsPerAddress) per address): this one had not authenticated and was the oldest such; closing it")
            evicted.answerThenClose(listener.handler.errors.refusal(error))
        }
        guard let id = admission.id else {
            logger.notice("too many client connections; refusing one", metadata: ["client.peer": "\(peer)"])
            let error = WireError(
                .tooManyConnections,
                "too many open connections (at most \(limits.maximumConnections), \(limits.maximumConnectionsPerAddress) per address)")
            stopped = true
            channel.answerThenClose(listener.handler.errors.refusal(error))
            return
        }
        self.id = id
        self.activity = admission.activity
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopped = true
        slowConsumerTimer?.cancel()
        if let id { listener.connections.remove(id) }
        id = nil
        activity = nil
        // A bundle's held runs are many small allocations spread over the threads' malloc
        // arenas; freed, glibc keeps the pages (tens of MiB after a dozen such connections).
        // Given back here, once per connection that ingested, not on every close.
        #if os(Linux)
        if state.verifier != nil { _ = mallocTrim(0) }
        #endif
        context.fireChannelInactive()
    }

    /// Lines are handled once the read that delivered them is complete: pipelined appends that
    /// arrived together are then queued for one group commit, only the last may commit here.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !stopped else { return }
        inputs.append(.line(unwrapInboundIn(data)))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        pump()
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, !stopped {
            inputs.append(.end)
            pump()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !stopped else { return }
        if let error = error as? LineTooLongError {
            inputs.append(.lineTooLong(limit: error.limit))
            pump()
            return
        }
        listener.logger.debug("client connection ended with an error", metadata: ["client.peer": "\(peer)", "error": "\(error)"])
        stopped = true
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            slowConsumerTimer?.cancel()
            slowConsumerTimer = nil
            pump()
        }
        context.fireChannelWritabilityChanged()
    }

    /// Holds the socket's reads while enough lines or answers wait.
    func read(context: ChannelHandlerContext) {
        if holdsReads {
            readHeld = true
        } else {
            context.read()
        }
    }

    // MARK: Handling

    /// Handles the waiting inputs in order, as far as the ones before allow.
    func pump() {
        guard !pumping else { return }
        pumping = true
        defer { pumping = false }
        let channel = context.channel
        handling: while !stopped, !running, let input = inputs.first {
            switch input {
            case .line(let buffer):
                guard channel.isWritable else {
                    waitForOutputRoom()
                    break handling
                }
                guard answers.count < ClientListener.answersInFlight else { break handling }
                inputs.removeFirst()
                if let waiting = handle(buffer) { inputs.prepend(waiting) }
            case .request(let request, let shuttingDown):
                guard answers.isEmpty else { break handling }
                inputs.removeFirst()
                run { handler, state in await handler.respond(to: request, connection: &state, shuttingDown: shuttingDown) }
            case .longLine(let line, let shuttingDown):
                // Parsed while the append before it commits (an import's next request).
                guard answers.count < 2 else { break handling }
                inputs.removeFirst()
                parseLong(line, shuttingDown: shuttingDown)
            case .closeAfter(let answer):
                guard answers.isEmpty else { break handling }
                stop(answering: answer)
            case .lineTooLong(let limit):
                guard answers.isEmpty else { break handling }
                let wire = WireError(.lineTooLong, "a line is at most \(limit) bytes; closing the connection")
                stop(answering: listener.handler.errors.refusal(wire))
                listener.logger.notice("line too long; connection closed", metadata: ["client.peer": "\(peer)"])
            case .end:
                guard answers.isEmpty else { break handling }
                finish()
            }
        }
        if !stopped, !running, inputs.isEmpty, answers.isEmpty, let activity { _ = listener.connections.setBusy(activity, false) }
        if readHeld, !holdsReads, !stopped {
            readHeld = false
            context.read()
        }
    }

    /// Enough lines wait, or enough answers (appends being committed): reading more would only
    /// grow the node's buffers and the writer's queue.
    var holdsReads: Bool { inputs.count >= ClientListener.bufferedLines || answers.count >= ClientListener.answersInFlight }

    /// Handles one request line: answered at once, an append submitted, or the input it becomes
    /// to wait for the answers before it.
    func handle(_ buffer: ByteBuffer) -> Input? {
        guard let activity, let id else { return nil }
        let now = ContinuousClock.now
        let shuttingDown = listener.connections.setBusy(activity, true, at: now)
        traffic.note(connection: id, at: now)
        let limits = listener.limits
        if !bucket.take(now: now) {
            let error = WireError(.rateLimited, "more than \(limits.requestsPerSecond) requests a second on this connection; the request was not run")
            answer(listener.handler.errors.refusal(error))
            return nil
        }
        let line = Array(buffer.readableBytesView)
        switch listener.authority.gate(line, state: &state.auth, errors: listener.handler.errors) {
        case .answer(let answer, let closing):
            if closing {
                let why =
                    line.count > ClientAuthority.unauthenticatedLineLimit
                    ? "client sent a long line before authenticating; closing" : "client presented an unknown token; closing"
                listener.logger.notice("\(why)", metadata: ["client.peer": "\(peer)"])
                return .closeAfter(answer)
            }
            self.answer(answer)
            markAuthenticated()
            return nil
        case .pass:
            // Before the handler: a first request that long-polls is past the handshake.
            markAuthenticated(force: true)
        }
        if line.count > RequestHandler.inlineLineLimit { return .longLine(line, shuttingDown: shuttingDown) }
        let handler = listener.handler
        let request: ClientRequest
        do {
            request = try line.withUnsafeBufferPointer { buffer throws(WireError) in try handler.parse(buffer) }
        } catch {
            answer(listener.handler.errors.refusal(error))
            return nil
        }
        switch handler.immediate(request, connection: state, shuttingDown: shuttingDown, idle: answers.isEmpty && !running) {
        case .answer(let refusal)?:
            answer(refusal)
            return nil
        case .view(let view)?:
            answer(view)
            return nil
        case .submit(let events)?:
            submit(events)
            return nil
        case nil:
            return .request(request, shuttingDown: shuttingDown)
        }
    }

    func markAuthenticated(force: Bool = false) {
        guard !markedAuthenticated, force || state.auth.authenticated, let id else { return }
        markedAuthenticated = true
        listener.connections.markAuthenticated(id)
    }

    /// Submits an append; its answer takes the next place in order. A long append
    /// (`mayCommitHere` false) is always committed by the store's writer, not on the event loop;
    /// so is one sent while another connection of this loop is asking (`LoopTraffic`).
    func submit(_ events: [PendingEvent], mayCommitHere: Bool = true) {
        let number = answered + answers.count
        answers.append(nil)
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        // The calling thread commits only the last append that arrived, only when the writer is
        // idle, and only when no other connection of this loop is being served: requests after
        // it, on this connection or another, would wait behind its fdatasync.
        let handler = listener.handler
        let commitHere = mayCommitHere && inputs.isEmpty && id.map { !traffic.othersBusy(besides: $0, at: .now) } ?? false
        handler.store.submitAppend(events, commitHere: commitHere) { result in
            let answer = handler.appendAnswer(result)
            if loop.inEventLoop {
                // Committed on this thread, as the last input: written out now, before the store
                // goes on to wake the fold (a futex wake, about 12 us here) and count the events.
                bound.value.fill(number, with: answer)
                bound.value.flushIfNeeded()
            } else {
                loop.execute {
                    bound.value.fill(number, with: answer)
                    bound.value.scheduleFlush()
                }
            }
        }
    }

    /// Parses a long line off the event loop, on every core (`RequestHandler.parse`), while the
    /// answers before it may still be committing; nothing after it is handled meanwhile. Then,
    /// back on the event loop, it goes the way of a short line: refused, submitted (an append),
    /// or run as a task once every earlier answer is out (any other request).
    func parseLong(_ line: [UInt8], shuttingDown: Bool) {
        running = true
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let handler = listener.handler
        Task(executorPreference: globalConcurrentExecutor) {
            let parsed = line.withUnsafeBufferPointer { buffer in
                Result { () throws(WireError) in try handler.parse(buffer) }
            }
            loop.execute {
                let this = bound.value
                this.running = false
                guard !this.stopped else { return }
                switch parsed {
                case .failure(let error):
                    this.answer(this.listener.handler.errors.refusal(error))
                case .success(let request):
                    switch handler.immediate(
                        request, connection: this.state, shuttingDown: shuttingDown, idle: this.answers.isEmpty)
                    {
                    case .answer(let refusal)?: this.answer(refusal)
                    case .view(let view)?: this.answer(view)
                    case .submit(let events)?: this.submit(events, mayCommitHere: false)
                    case nil: this.inputs.prepend(.request(request, shuttingDown: shuttingDown))
                    }
                }
                this.pump()
                this.flushIfNeeded()
            }
        }
    }

    /// Runs a request as a task on the connection's event loop, with the connection's state; its
    /// answer takes the next place, and the inputs after it wait until then.
    func run(_ body: @escaping @Sendable (RequestHandler, inout RequestHandler.ConnectionState) async -> [UInt8]) {
        running = true
        let number = answered + answers.count
        answers.append(nil)
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        let handler = listener.handler
        let state = self.state
        Task(executorPreference: EventLoopTaskExecutor(loop)) {
            var state = state
            let answer = await body(handler, &state)
            loop.execute { [state] in
                let this = bound.value
                this.state = state
                this.running = false
                if state.auth.authenticated { this.markAuthenticated() }
                this.fill(number, with: answer)
                this.flushIfNeeded()
            }
        }
    }

    /// Answers the current request at once.
    func answer(_ line: [UInt8]) {
        answers.append(context.channel.allocator.buffer(bytes: line))  // answers end with their newline
        writeReady()
    }

    /// Answers the current request with a view, written once into the channel's buffer.
    func answer(_ view: ViewAnswer) {
        var buffer = context.channel.allocator.buffer(capacity: view.count)
        view.write(to: &buffer)
        answers.append(buffer)
        writeReady()
    }

    /// Sets the answer of request `number`, writes what is ready, and goes on with the inputs
    /// (one may have waited for this answer; without any, the connection turns idle).
    func fill(_ number: Int, with answer: [UInt8]) {
        let i = number - answered
        guard i >= 0, i < answers.count else { return }
        answers[offset: i] = context.channel.allocator.buffer(bytes: answer)  // answers end with their newline
        writeReady()
        pump()
    }

    /// Writes the answers at the head that are ready, without flushing.
    func writeReady() {
        while let first = answers.first, let buffer = first {
            answers.removeFirst()
            answered += 1
            guard !stopped else { continue }
            context.write(wrapOutboundOut(buffer), promise: nil)
            unflushed = true
        }
    }

    func flushIfNeeded() {
        guard unflushed else { return }
        unflushed = false
        context.flush()
    }

    /// One flush for the answers completed by the tasks already queued on the loop (a group
    /// commit completes many at once).
    func scheduleFlush() {
        guard unflushed, !flushScheduled else { return }
        flushScheduled = true
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute {
            bound.value.flushScheduled = false
            bound.value.flushIfNeeded()
        }
    }

    /// The client reads no answers: wait for room, up to `slow_consumer_timeout_ms`.
    func waitForOutputRoom() {
        guard slowConsumerTimer == nil else { return }
        let limits = listener.limits
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        slowConsumerTimer = context.eventLoop.scheduleTask(in: TimeAmount(limits.slowConsumerTimeout)) {
            let this = bound.value
            this.slowConsumerTimer = nil
            guard !this.stopped, !this.context.channel.isWritable else { return }
            this.listener.logger.notice("slow consumer; closing", metadata: ["client.peer": "\(this.peer)"])
            let error = WireError(
                .slowConsumer,
                "more than \(limits.maximumPendingOutputBytes) bytes of answers unread for \(limits.slowConsumerTimeout); closing the connection")
            this.stopped = true
            this.context.channel.answerThenClose(this.listener.handler.errors.refusal(error), grace: TimeAmount(limits.slowConsumerTimeout))
        }
    }

    /// Writes one last answer and closes.
    func stop(answering line: [UInt8]) {
        flushIfNeeded()
        stopped = true
        context.channel.answerThenClose(line)
    }

    /// End of input (a half-closed client waits for its answers): let them out, then close,
    /// within `slow_consumer_timeout_ms`.
    func finish() {
        stopped = true
        let channel = context.channel
        let closer = context.eventLoop.scheduleTask(in: TimeAmount(listener.limits.slowConsumerTimeout)) { channel.close(promise: nil) }
        unflushed = false
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            closer.cancel()
            channel.close(promise: nil)
        }
    }
}

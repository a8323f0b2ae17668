import HTTPTypes
import Hummingbird
import IncidentModel
import IncidentServer
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Wire

/// `GET /api/v1/stream`: the log as server-sent events (`text/event-stream`; docs/HTTP.md,
/// "Event stream").
///
///     id: <log offset after the event>
///     event: stored
///     data: <the stored event line>
///
///     event: view
///     data: {"sector":"east","folded":N}
///
/// Every event stored (own and replicated) from the start offset on, in log order: the
/// `Last-Event-ID` header, else `?from=`, else the end of the log (new events only). With
/// `?sector=S` only that sector's events and views. After each batch of events, once the views
/// have folded it (at most 2 s), one `view` per sector the batch touched. A comment line every
/// 15 s keeps proxies from closing an idle stream.
///
/// Delivery is bounded. The stream reads from the log only while the frames waiting for the
/// reader are under `max_pending_output_bytes`; a reader holds no more than that (plus one
/// frame) however far behind it is, and one that catches up from an old offset is paced by
/// what it reads. When the frames waiting stay at that bound for `slow_consumer_timeout_ms` (the
/// connection took nothing), the frames are dropped, the reader gets
/// `event: error` / `data: {"code":"slow_consumer",…}` after what the connection already holds
/// for it, and the response ends; a reader that goes on taking nothing for another
/// `slow_consumer_timeout_ms` is closed. It resumes with `Last-Event-ID` where it got to.
enum EventStream {
    static let heartbeat = Duration.seconds(15)
    /// Bytes handed to the connection at once.
    static let chunkBytes = 16 * 1024
    /// Longest wait for the views to fold a batch before its `view` frames go out anyway.
    static let foldWait = Duration.seconds(2)

    static func response(
        _ request: Request, api: NodeAPI, caller: NodeAPI.Caller, limits: ClientLimits, channel: any Channel, logger: Logger
    ) -> Response {
        let end = api.store.count
        let startText = request.headers[HTTPField.Name("Last-Event-ID")!] ?? request.uri.queryParameters.get("from").map { String($0) }
        var requested = end
        if let startText {
            guard let n = UInt64(startText.drop { $0 == " " }) else {
                return Routes.refusal(
                    WireError(.invalidRequest, "Last-Event-ID or from: expected a log offset (an integer ≥ 0), got \(startText)"), errors: api.errors)
            }
            requested = min(n, end)
        }
        let start = requested
        let sector = request.uri.queryParameters.get("sector").map { String($0) }
        if let sector, !api.sectors.contains(sector) {
            return Routes.refusal(WireError(.notFound, "no sector \(sector) (known: \(api.sectors.joined(separator: ", ")))"), errors: api.errors)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let peer = channel.remoteAddress?.description ?? "?"
        logger.info("event stream opened", metadata: ["http.peer": "\(peer)", "http.caller": "\(caller.name)", "stream.from": "\(start)"])
        return Response(
            status: .ok, headers: headers,
            body: .init { writer in
                let buffer = StreamBuffer(limit: limits.maximumPendingOutputBytes)
                buffer.push(Array(": from \(start)\n\n".utf8))
                channel.closeFuture.whenComplete { _ in buffer.finish() }
                let producer = Producer(api: api, buffer: buffer, sector: sector, limits: limits, channel: channel, logger: logger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // Graceful shutdown ends the stream (the response then ends cleanly).
                        await cancelWhenGracefulShutdown { await producer.run(from: start) }
                        buffer.finish()
                    }
                    group.addTask {
                        while true {
                            try await Task.sleep(for: heartbeat)
                            buffer.push(Array(":\n\n".utf8))
                        }
                    }
                    do {
                        while let chunk = await buffer.take(maximum: chunkBytes) {
                            try await writer.write(ByteBuffer(bytes: chunk))
                            buffer.wrote()
                        }
                        buffer.consumerFinished()
                    } catch {
                        logger.notice("event stream write failed", metadata: ["http.peer": "\(peer)", "error": "\(error)"])
                        group.cancelAll()
                        throw error
                    }
                    group.cancelAll()
                }
                try await writer.finish(nil)
                logger.info("event stream closed", metadata: ["http.peer": "\(peer)"])
            })
    }

    /// Reads the log into the reader's buffer.
    struct Producer: Sendable {
        let api: NodeAPI
        let buffer: StreamBuffer
        let sector: String?
        let limits: ClientLimits
        let channel: any Channel
        let logger: Logger

        func run(from start: UInt64) async {
            var iterator = api.store.subscribeLines(from: start, batchLimit: 256).makeAsyncIterator()
            var offset = start
            while !Task.isCancelled {
                let batch: [(line: [UInt8], sector: String?)]
                do {
                    guard let lines = try await iterator.next() else { return }
                    batch = lines.map { ($0.line, Self.sector(of: $0.line)) }
                } catch {
                    logger.error("event stream cannot read the log", metadata: ["error": "\(error)"])
                    return
                }
                var touched: [String] = []
                for (line, eventSector) in batch {
                    offset += 1
                    if let eventSector, !touched.contains(eventSector) { touched.append(eventSector) }
                    guard sector == nil || eventSector == sector else { continue }
                    guard await room() else { return }
                    buffer.push(Array("id: \(offset)\nevent: stored\ndata: ".utf8) + line + Array("\n\n".utf8))
                }
                let views = touched.filter { sector == nil || $0 == sector }.sorted()
                guard !views.isEmpty else { continue }
                _ = await api.waitFolded(upTo: offset, within: EventStream.foldWait)
                let folded = api.folded
                for s in views {
                    guard await room() else { return }
                    var w = JSONWriter()
                    w.raw("event: view\ndata: {\"sector\":")
                    w.string(s)
                    w.raw(",\"folded\":")
                    w.integer(folded)
                    w.raw("}\n\n")
                    buffer.push(w.bytes)
                }
            }
        }

        /// Waits until the buffer has room; false when the reader is dropped as too slow.
        func room() async -> Bool {
            switch await buffer.waitForRoom(within: limits.slowConsumerTimeout) {
            case .room: return true
            case .ended: return false
            case .full:
                let error = WireError(
                    .slowConsumer,
                    "more than \(limits.maximumPendingOutputBytes) bytes of events unread for \(limits.slowConsumerTimeout); closing the stream (resume with Last-Event-ID)"
                )
                var w = JSONWriter()
                w.raw("event: error\ndata: {\"code\":")
                w.string(error.code.rawValue)
                w.raw(",\"message\":")
                w.string(error.message)
                w.raw("}\n\n")
                _ = api.refusal(error)  // counted with the other errors by code
                logger.notice("event stream reader too slow; closing", metadata: ["http.peer": "\(channel.remoteAddress?.description ?? "?")"])
                buffer.drop(final: w.bytes)
                // The reader gets the error frame once it reads again; one that still takes nothing
                // for the timeout is closed.
                let channel = self.channel
                let progress: @Sendable () async -> Int? = {
                    // Writable, or more bytes acknowledged by the reader's side than last time
                    // (else fewer waiting in the channel): the reader takes.
                    if channel.isWritable { return nil }
                    if let acknowledged = await DeliveredBytes.acknowledged(by: channel) { return Int(truncatingIfNeeded: acknowledged) }
                    return try? await channel.getOption(ChannelOptions.bufferedWritableBytes).get()
                }
                if await !buffer.waitConsumerFinished(within: limits.slowConsumerTimeout, progress: progress) {
                    logger.notice("event stream reader takes nothing; closing", metadata: ["http.peer": "\(channel.remoteAddress?.description ?? "?")"])
                    channel.close(promise: nil)
                }
                return false
            }
        }

        /// The `sector` of a stored line.
        static func sector(of line: [UInt8]) -> String? {
            (try? JSONParser.parse(line))?["sector"]?.stringValue
        }
    }
}

/// The frames waiting for one stream's reader: pushed by the producer, taken by the task that
/// writes the response. Bounded by the producer, which waits for room (`waitForRoom`).
///
/// A chunk taken is whole frames, so that dropping what waits (`drop`) never leaves the reader
/// the head of a frame whose tail it will not get.
final class StreamBuffer: Sendable {
    struct State {
        /// The frames pushed, oldest first; those before `first` are taken.
        var frames: [[UInt8]] = []
        var first = 0
        /// Bytes of the frames not taken.
        var waiting = 0
        var ended = false
        var consumerDone = false
        /// Chunks the connection has taken (writes completed).
        var written = 0
        var taker: CheckedContinuation<[UInt8]?, Never>?
        /// Taken bytes since the last look: the reader makes progress.
        var taken = 0
    }

    let limit: Int
    let state = Mutex(State())

    init(limit: Int) {
        self.limit = limit
    }

    func push(_ frame: [UInt8]) {
        let woken = state.withLock { s -> (CheckedContinuation<[UInt8]?, Never>, [UInt8]?)? in
            guard !s.ended else { return nil }
            s.frames.append(frame)
            s.waiting += frame.count
            guard let t = s.taker else { return nil }
            s.taker = nil
            return (t, Self.take(&s, maximum: EventStream.chunkBytes))
        }
        if let (taker, chunk) = woken { taker.resume(returning: chunk) }
    }

    /// Whole frames, up to `maximum` bytes unless the first alone is longer, waiting while there
    /// are none; nil once the stream has ended and everything is taken.
    func take(maximum: Int) async -> [UInt8]? {
        await withCheckedContinuation { continuation in
            let now = state.withLock { s -> [UInt8]?? in
                if s.waiting == 0 && !s.ended {
                    s.taker = continuation
                    return .none
                }
                return .some(Self.take(&s, maximum: maximum))
            }
            if case .some(let chunk) = now { continuation.resume(returning: chunk) }
        }
    }

    /// What is there now; nil when the stream has ended and nothing is left.
    private static func take(_ s: inout State, maximum: Int) -> [UInt8]? {
        if s.waiting == 0 { return s.ended ? nil : [] }
        var out: [UInt8] = []
        while s.first < s.frames.count, out.isEmpty || out.count + s.frames[s.first].count <= maximum {
            out += s.frames[s.first]
            s.frames[s.first] = []
            s.first += 1
        }
        if s.first == s.frames.count {
            s.frames.removeAll(keepingCapacity: true)
            s.first = 0
        } else if s.first >= 1024 {
            s.frames.removeFirst(s.first)
            s.first = 0
        }
        s.waiting -= out.count
        s.taken += out.count
        return out
    }

    enum Room { case room, full, ended }

    /// Room below the limit; `.full` when the buffer stayed at the limit, nothing taken, for `within`.
    func waitForRoom(within: Duration) async -> Room {
        var deadline = ContinuousClock.now + within
        while true {
            let (count, ended, taken) = state.withLock { s in
                defer { s.taken = 0 }
                return (s.waiting, s.ended, s.taken)
            }
            if ended { return .ended }
            if count < limit { return .room }
            if taken > 0 { deadline = ContinuousClock.now + within }
            if ContinuousClock.now >= deadline { return .full }
            do { try await Task.sleep(for: .milliseconds(10)) } catch { return .ended }
        }
    }

    /// Drops what waits and ends the stream with `final`.
    func drop(final: [UInt8]) {
        end { s in
            s.frames = [final]
            s.first = 0
            s.waiting = final.count
        }
    }

    /// The producer is done (or the connection closed): the reader takes what is left, then the
    /// stream ends.
    func finish() {
        end { _ in }
    }

    private func end(_ body: (inout State) -> Void) {
        let woken = state.withLock { s -> (CheckedContinuation<[UInt8]?, Never>, [UInt8]?)? in
            body(&s)
            s.ended = true
            guard let t = s.taker else { return nil }
            s.taker = nil
            return (t, Self.take(&s, maximum: EventStream.chunkBytes))
        }
        if let (taker, chunk) = woken { taker.resume(returning: chunk) }
    }

    func wrote() {
        state.withLock { $0.written += 1 }
    }

    func consumerFinished() {
        state.withLock { $0.consumerDone = true }
    }

    /// Waits until the writer has written everything (the final frame included); false when it
    /// made no progress for `within`: no write completed, and the connection never took bytes
    /// (`waiting`: a count that moves when the reader takes bytes, nil when it is writable).
    func waitConsumerFinished(within: Duration, progress waiting: () async -> Int?) async -> Bool {
        var deadline = ContinuousClock.now + within
        var written = -1
        var lastWaiting: Int? = -1
        while true {
            let (done, now) = state.withLock { ($0.consumerDone, $0.written) }
            if done { return true }
            let waitingNow = await waiting()
            if now != written || waitingNow == nil || waitingNow != lastWaiting {
                lastWaiting = waitingNow
                written = now
                deadline = ContinuousClock.now + within
            }
            if ContinuousClock.now >= deadline { return false }
            // Cancelled: the response is ending (the writer finished, or the connection went).
            do { try await Task.sleep(for: .milliseconds(10)) } catch { return true }
        }
    }
}

import HTTPTypes
import IncidentServer
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Wire

/// Holds one HTTP connection to the client API's limits (docs/HTTP.md, "Limits"); it sits
/// behind the HTTP/1.1 codec, so it sees whole request heads and writes whole responses:
///
/// - time: the first request head must be complete within `handshake_timeout_ms` of connecting,
///   each later one within `idle_timeout_ms` of the previous response (so a client that trickles
///   a head byte by byte is cut off too): 408 `idle_timeout`, then close;
/// - request rate: a token bucket per connection (`requests_per_second`, `request_burst`); a
///   request finding it empty is marked (`refusedHeader`) and the route answers 429
///   `rate_limited` in its turn, without running it;
/// - a malformed request or one whose head is over the decoder's limits: 400 `invalid_request`
///   or 431 `line_too_long`, then close;
/// - unread responses: when a response (not an event stream, which bounds its own buffer) cannot
///   be written for `slow_consumer_timeout_ms` because the client does not read, the connection
///   is closed.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The header a rate-limited request reaches the routes with (any such header a client sends
    /// is removed first).
    static let refusedHeader = HTTPField.Name("incidentlog-refused")!

    let limits: ClientLimits
    /// The node's count of refusals (`incidentlog_client_errors_total`).
    let errors: ClientErrors
    let logger: Logger
    var bucket: TokenBucket
    /// Requests read whose response has not ended.
    var open = 0
    /// A request head has been read on this connection.
    var served = false
    /// The response being written is an event stream.
    var streaming = false
    /// The response being written says `Connection: close` (a refused body): the connection
    /// closes after it, whatever of the request is still coming.
    var closeAfterResponse = false
    var closing = false
    var headTimer: Scheduled<Void>?
    var writeTimer: Scheduled<Void>?

    init(limits: ClientLimits, errors: ClientErrors, logger: Logger) {
        self.limits = limits
        self.errors = errors
        self.logger = logger
        bucket = TokenBucket(rate: limits.requestsPerSecond, burst: limits.requestBurst, now: .now)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armHeadTimer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        armHeadTimer(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        headTimer?.cancel()
        writeTimer?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var part = unwrapInboundIn(data)
        if case .head(var head) = part {
            headTimer?.cancel()
            headTimer = nil
            served = true
            open += 1
            head.headerFields[Self.refusedHeader] = nil
            if !bucket.take(now: .now) { head.headerFields[Self.refusedHeader] = WireErrorCode.rateLimited.rawValue }
            part = .head(head)
        }
        context.fireChannelRead(wrapInboundOut(part))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200:
            streaming = head.headerFields[.contentType]?.hasPrefix("text/event-stream") == true
            closeAfterResponse = head.headerFields[.connection]?.lowercased() == "close"
        case .end where closeAfterResponse:
            closing = true
            let written = context.eventLoop.makePromise(of: Void.self)
            if let promise { written.futureResult.cascade(to: promise) }
            context.writeAndFlush(data, promise: written)
            closeOutput(context, after: written.futureResult)
            return
        case .end:
            open = max(0, open - 1)
            streaming = false
            if open == 0 { armHeadTimer(context) }
        default: break
        }
        context.write(data, promise: promise)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            writeTimer?.cancel()
            writeTimer = nil
        } else if !streaming, writeTimer == nil {
            let timeout = limits.slowConsumerTimeout
            writeTimer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: TimeAmount(timeout)) { [self] in
                writeTimer = nil
                guard !context.channel.isWritable else { return }
                logger.notice("http client does not read its response; closing", metadata: ["http.peer": "\(peer(context))"])
                // Counted with the other errors by code, though no answer can carry it.
                _ = errors.refusal(WireError(.slowConsumer, "a response was left unread for \(timeout)"))
                context.close(promise: nil)
            }
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parse = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if case .headerOverflow = parse {
            refuse(context, .requestHeaderFieldsTooLarge, WireError(.lineTooLong, "the request head is longer than the node takes; closing the connection"))
        } else {
            refuse(context, .badRequest, WireError(.invalidRequest, "not an HTTP/1.1 request (\(parse)); closing the connection"))
        }
    }

    /// From a request's end (or the connection's start) to the next request head.
    func armHeadTimer(_ context: ChannelHandlerContext) {
        headTimer?.cancel()
        let timeout = served ? limits.idleTimeout : limits.handshakeTimeout
        let message = served ? "no request for \(timeout); closing the connection" : "no request within \(timeout) of connecting; closing the connection"
        headTimer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: TimeAmount(timeout)) { [self] in
            headTimer = nil
            guard open == 0 else { return }
            logger.notice("http connection timed out; closing", metadata: ["http.peer": "\(peer(context))"])
            refuse(context, .requestTimeout, WireError(.idleTimeout, message))
        }
    }

    /// Answers `error` (when no other response is under way) and closes: the output is
    /// half-closed once the answer is out, so the client reads it before end of stream; the
    /// connection is closed whatever happens after two seconds.
    func refuse(_ context: ChannelHandlerContext, _ status: HTTPResponse.Status, _ error: WireError) {
        guard !closing else { return }
        closing = true
        guard open == 0 else {
            context.close(promise: nil)
            return
        }
        let body = Routes.body(error, errors: errors)
        var head = HTTPResponse(status: status)
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.readableBytes)
        head.headerFields[.connection] = "close"
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        closeOutput(context, after: context.writeAndFlush(wrapOutboundOut(.end(nil))))
    }

    /// Half-closes once the answer is `written` (the client reads it before end of stream;
    /// closing with its input unread would reset the connection and lose the answer) and drops
    /// what the client still sends (`closing`); closed for good after two seconds.
    func closeOutput(_ context: ChannelHandlerContext, after written: EventLoopFuture<Void>) {
        let channel = context.channel
        let closer = context.eventLoop.scheduleTask(in: .seconds(2)) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in closer.cancel() }
        written.whenComplete { _ in channel.close(mode: .output, promise: nil) }
    }

    func peer(_ context: ChannelHandlerContext) -> String {
        context.channel.remoteAddress?.description ?? "?"
    }
}

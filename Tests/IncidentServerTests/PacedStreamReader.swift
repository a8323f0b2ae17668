import NIOCore
import NIOHTTP1
import NIOPosix
import Wire

/// A reader of the event stream that runs on an event loop of its own, not in the test's tasks:
/// the test process runs the whole suite at once, and a task there can wait seconds for a
/// thread, longer than a node gives a dropped reader (`slow_consumer_timeout_ms`). A loop's
/// thread is scheduled by the kernel, so the reader's pace holds whatever the rest of the suite
/// does.
///
/// It sends `GET path`, reads nothing until `start()` returns true (asked every `pause`), then
/// takes at most `partBytes` from the socket every `pause`, until the body read so far satisfies
/// `enough` or the response or connection ends.
enum PacedStreamReader {
    struct Outcome: Sendable {
        var status: Int?
        var body: [UInt8]
        /// The response or the connection ended before `enough` held.
        var ended: Bool
    }

    static func read(
        _ address: HostPort, path: String, headers: [(String, String)] = [], receiveBufferBytes: Int = 4096, partBytes: Int = 4096,
        pause: TimeAmount, start: @escaping @Sendable () -> Bool, until enough: @escaping @Sendable ([UInt8]) -> Bool
    ) async throws -> Outcome {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let outcome = try await read(
                on: group.next(), address, path: path, headers: headers, receiveBufferBytes: receiveBufferBytes, partBytes: partBytes, pause: pause,
                start: start, until: enough)
            try await group.shutdownGracefully()
            return outcome
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private static func read(
        on loop: any EventLoop, _ address: HostPort, path: String, headers: [(String, String)], receiveBufferBytes: Int, partBytes: Int,
        pause: TimeAmount, start: @escaping @Sendable () -> Bool, until enough: @escaping @Sendable ([UInt8]) -> Bool
    ) async throws -> Outcome {
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: address.description)
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        let request = head
        // Completed by the handler, which is removed (and finishes) however the connection ends.
        let done = loop.makePromise(of: Outcome.self)
        let channel = try await ClientBootstrap(group: loop)
            .channelOption(.socketOption(.so_rcvbuf), value: .init(receiveBufferBytes))
            .channelOption(.autoRead, value: false)
            .channelOption(.maxMessagesPerRead, value: 1)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: partBytes))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(Handler(request: request, pause: pause, start: start, enough: enough, done: done))
                }
            }
            .connect(host: address.host, port: address.port).get()
        // Bounded: a reader that never gets what it waits for ends the test instead of hanging it.
        let deadline = loop.scheduleTask(in: .seconds(60)) { channel.close(promise: nil) }
        defer { deadline.cancel() }
        let outcome = try await done.futureResult.get()
        try? await channel.close()
        return outcome
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        let request: HTTPRequestHead
        let pause: TimeAmount
        let start: @Sendable () -> Bool
        let enough: @Sendable ([UInt8]) -> Bool
        let done: EventLoopPromise<Outcome>
        var outcome = Outcome(status: nil, body: [], ended: false)
        var started = false
        var finished = false
        var ticks: RepeatedTask?

        init(
            request: HTTPRequestHead, pause: TimeAmount, start: @escaping @Sendable () -> Bool, enough: @escaping @Sendable ([UInt8]) -> Bool,
            done: EventLoopPromise<Outcome>
        ) {
            self.request = request
            self.pause = pause
            self.start = start
            self.enough = enough
            self.done = done
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            finish(ended: true)
        }

        func channelActive(context: ChannelHandlerContext) {
            context.write(wrapOutboundOut(.head(request)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            ticks = context.eventLoop.scheduleRepeatedTask(initialDelay: pause, delay: pause) { _ in
                let (handler, context) = bound.value
                handler.tick(context)
            }
            context.fireChannelActive()
        }

        func tick(_ context: ChannelHandlerContext) {
            guard !finished else { return }
            if !started { started = start() }
            if started { context.read() }
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                outcome.status = Int(head.status.code)
            case .body(let part):
                outcome.body += part.readableBytesView
                if enough(outcome.body) { finish(ended: false) }
            case .end:
                finish(ended: true)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            finish(ended: true)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            finish(ended: true)
            context.close(promise: nil)
        }

        func finish(ended: Bool) {
            guard !finished else { return }
            finished = true
            ticks?.cancel()
            outcome.ended = ended
            done.succeed(outcome)
        }
    }
}

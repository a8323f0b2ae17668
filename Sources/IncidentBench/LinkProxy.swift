// LinkProxy: a TCP proxy on loopback that behaves like one of the field's links, for tests
// (IncidentTestSupport's `ThrottledProxy` is this type) and for `incidentctl bench link`.
//
//     let proxy = try await LinkProxy.start(to: bamakoPeer, profile: LinkProfile(
//         bytesPerSecond: 8_000, latency: .milliseconds(300),
//         cuts: CutSchedule(minimum: .seconds(7.5), maximum: .seconds(22.5), seed: 1)))
//     // dial proxy.address instead of bamakoPeer; proxy.counters; await proxy.stop()
//
// Each accepted connection opens its own connection to the target; what one side sends is
// forwarded to the other, in each direction independently:
//
// - Rate: `bytesPerSecond` in EACH direction (nil: not slowed). Bytes are cut into slices of
//   `sliceBytes`; a slice finishes "transmitting" `size / rate` after the previous one (or after
//   it was read, if the link was idle), as on a serial link.
// - Latency: a slice is written to the far side `latency` after it finished transmitting, so never
//   earlier than `latency` after it was read. Order is preserved (delivery times never decrease).
// - Backpressure: a side is read only while fewer than `queueLimit` bytes wait in the proxy
//   toward the other side (autoRead off, `read()` asked again as the queue drains), and slices are written only
//   while the far socket is writable. The proxy is a slow pipe, not an unbounded buffer: a sender
//   faster than the link sees its own socket buffers fill up.
// - Cuts: with `cuts`, at moments whose intervals are drawn uniformly in [minimum, maximum] from
//   `SplitMix64(seed:)` (the same seed gives the same schedule, `CutSchedule.intervals`), every
//   connection open through the proxy is closed on both sides and whatever the proxy still holds
//   for it is dropped, as a real cut loses the bytes in flight. New connections are accepted again
//   right away. `cut()` does the same on demand.
// - Counters (`counters`, thread-safe): cuts, connections accepted, bytes written out in each
//   direction (counted when the write to the far socket succeeded), bytes dropped by cuts.
//
// A connection one side closes normally is closed on the other side once the slices already
// read for it have been delivered (as the FIN travels behind the data).
import NIOCore
import IncidentModel
import NIOPosix
import Synchronization
public import Wire

/// When a link is cut: intervals uniform in [minimum, maximum], drawn from `SplitMix64(seed:)`.
public struct CutSchedule: Sendable, Equatable {
    public var minimum: Duration
    public var maximum: Duration
    public var seed: UInt64

    public init(minimum: Duration, maximum: Duration, seed: UInt64) {
        precondition(minimum > .zero && maximum >= minimum, "cut intervals must be positive, minimum ≤ maximum")
        self.minimum = minimum
        self.maximum = maximum
        self.seed = seed
    }

    /// The first `count` intervals between cuts (the first from the proxy's start).
    public func intervals(_ count: Int) -> [Duration] {
        var generator = Generator(self)
        return (0..<count).map { _ in generator.next() }
    }

    struct Generator {
        var rng: SplitMix64
        let schedule: CutSchedule
        init(_ schedule: CutSchedule) {
            self.schedule = schedule
            rng = SplitMix64(seed: schedule.seed)
        }
        mutating func next() -> Duration {
            let unit = Double(rng.next() >> 11) / Double(1 << 53)  // [0, 1)
            let lo = schedule.minimum.totalNanoseconds, hi = schedule.maximum.totalNanoseconds
            return .nanoseconds(lo + Int64((Double(hi - lo) * unit).rounded(.down)))
        }
    }
}

/// What a `LinkProxy` does to the bytes it forwards.
public struct LinkProfile: Sendable, Equatable {
    /// Bytes per second in each direction, independently; nil: not slowed.
    public var bytesPerSecond: Int?
    /// One-way latency added to every slice.
    public var latency: Duration
    /// When to cut every connection; nil: never.
    public var cuts: CutSchedule?
    /// Bytes the proxy holds toward one side before it stops reading the other.
    public var queueLimit: Int
    /// Bytes per paced slice.
    public var sliceBytes: Int

    public init(
        bytesPerSecond: Int? = nil, latency: Duration = .zero, cuts: CutSchedule? = nil, queueLimit: Int = 64 * 1024,
        sliceBytes: Int = 1024
    ) {
        precondition(bytesPerSecond.map { $0 > 0 } ?? true, "bytesPerSecond must be above 0")
        precondition(queueLimit > 0 && sliceBytes > 0)
        self.bytesPerSecond = bytesPerSecond
        self.latency = latency
        self.cuts = cuts
        self.queueLimit = queueLimit
        self.sliceBytes = sliceBytes
    }

    /// The field's link: 8,000 B/s each way, 300 ms one way, cut every 7.5–22.5 s.
    public static func field(seed: UInt64) -> LinkProfile {
        LinkProfile(
            bytesPerSecond: 8_000, latency: .milliseconds(300),
            cuts: CutSchedule(minimum: .milliseconds(7_500), maximum: .milliseconds(22_500), seed: seed))
    }
}

/// A slow, late, cut link between a client and `target`. See the top of this file.
public final class LinkProxy: Sendable {
    /// What the proxy counted since it started.
    public struct Counters: Sendable, Equatable {
        public var cuts = 0
        public var connectionsAccepted = 0
        /// Bytes written to the target (sent by the dialing side).
        public var bytesToTarget = 0
        /// Bytes written to the dialing side (sent by the target).
        public var bytesToClient = 0
        /// Bytes read but dropped by cuts, both directions.
        public var bytesDropped = 0
        public var bytesForwarded: Int { bytesToTarget + bytesToClient }
        public init() {}
    }

    /// Where to connect instead of the target.
    public let address: HostPort
    public let target: HostPort
    public let profile: LinkProfile
    let server: any Channel
    let state: Mutex<State>
    let started = ContinuousClock.now

    struct State {
        var counters = Counters()
        var connections: [ObjectIdentifier: ProxiedConnection] = [:]
        var cutTimer: Scheduled<Void>? = nil
        var cutGenerator: CutSchedule.Generator?
        /// When each cut happened, from the proxy's start.
        var cutTimes: [Duration] = []
        var nextCutAt: NIODeadline? = nil
        var stopped = false
    }

    /// The old call of the slow-link tests: `bytesPerSecond` each way, no latency, no cuts.
    public static func start(to target: HostPort, bytesPerSecond: Int) async throws -> LinkProxy {
        try await start(to: target, profile: LinkProfile(bytesPerSecond: bytesPerSecond))
    }

    /// Listens on 127.0.0.1, port 0, and forwards to `target` under `profile`.
    public static func start(to target: HostPort, profile: LinkProfile) async throws -> LinkProxy {
        let box = ProxyBox()
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.autoRead, value: false)
            // One read of at most 16 KiB per read(): the queue overshoots its limit by that much at most.
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 16 * 1024))
            .childChannelInitializer { client in
                guard let proxy = box.proxy else { return client.close() }
                proxy.accepted(client)
                return client.eventLoop.makeSucceededVoidFuture()
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = LinkProxy(address: HostPort(host: "127.0.0.1", port: server.localAddress!.port!), target: target, profile: profile, server: server)
        box.proxy = proxy
        proxy.scheduleNextCut()
        return proxy
    }

    init(address: HostPort, target: HostPort, profile: LinkProfile, server: any Channel) {
        self.address = address
        self.target = target
        self.profile = profile
        self.server = server
        var s = State()
        s.cutGenerator = profile.cuts.map(CutSchedule.Generator.init)
        self.state = Mutex(s)
    }

    public var counters: Counters { state.withLock { $0.counters } }

    /// When each cut happened so far, measured from the proxy's start.
    public var cutTimes: [Duration] { state.withLock { $0.cutTimes } }

    /// Connections open through the proxy now.
    public var openConnections: Int { state.withLock { $0.connections.count } }

    /// Cuts every open connection now (counted as a cut); the schedule is not changed.
    public func cut() {
        let connections = state.withLock { s -> [ProxiedConnection] in
            s.counters.cuts += 1
            s.cutTimes.append(ContinuousClock.now - started)
            return Array(s.connections.values)
        }
        for c in connections { c.cut() }
    }

    /// Stops listening and closes every connection (the queued bytes are dropped, not counted).
    public func stop() async {
        let connections = state.withLock { s -> [ProxiedConnection] in
            s.stopped = true
            s.cutTimer?.cancel()
            s.cutTimer = nil
            return Array(s.connections.values)
        }
        try? await server.close()
        for c in connections { c.cut() }
    }

    func scheduleNextCut() {
        let loop = server.eventLoop
        state.withLock { s in
            guard !s.stopped, var generator = s.cutGenerator else { return }
            let interval = generator.next()
            s.cutGenerator = generator
            // From the previous scheduled moment, so timer lateness does not drift the schedule.
            let at = (s.nextCutAt ?? NIODeadline.now()) + .nanoseconds(interval.totalNanoseconds)
            s.nextCutAt = at
            s.cutTimer = loop.scheduleTask(deadline: at) { [self] in
                self.cut()
                self.scheduleNextCut()
            }
        }
    }

    func add(bytes: Int, toTarget: Bool) {
        state.withLock { s in
            if toTarget { s.counters.bytesToTarget += bytes } else { s.counters.bytesToClient += bytes }
        }
    }

    func dropped(bytes: Int) {
        guard bytes > 0 else { return }
        state.withLock { $0.counters.bytesDropped += bytes }
    }

    /// On the client channel's event loop, from the child initializer.
    func accepted(_ client: any Channel) {
        let connection = ProxiedConnection(proxy: self, client: client)
        let registered = state.withLock { s -> Bool in
            s.counters.connectionsAccepted += 1
            guard !s.stopped else { return false }
            s.connections[ObjectIdentifier(connection)] = connection
            return true
        }
        guard registered else {
            client.close(promise: nil)
            return
        }
        client.closeFuture.whenComplete { [self] _ in
            _ = state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(connection)) }
        }
        // The target is dialed once the client channel is active (its handler's channelActive):
        // before that, a close or a read() on it would be ignored.
        do {
            try client.pipeline.syncOperations.addHandler(SideHandler(connection: connection, isClient: true))
        } catch {
            client.close(promise: nil)
        }
    }
}

/// Lets the child initializer find the proxy that is built after the bind.
final class ProxyBox: Sendable {
    let value = Mutex<LinkProxy?>(nil)
    var proxy: LinkProxy? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}

/// One client connection and its upstream connection; every member is used on `loop` only.
final class ProxiedConnection: @unchecked Sendable {
    let proxy: LinkProxy
    let loop: any EventLoop
    let client: any Channel
    var upstream: (any Channel)?
    /// client → target, and target → client.
    let up = Direction(toTarget: true)
    let down = Direction(toTarget: false)
    var cutDone = false

    init(proxy: LinkProxy, client: any Channel) {
        self.proxy = proxy
        self.loop = client.eventLoop
        self.client = client
    }

    func connect(to target: HostPort) {
        ClientBootstrap(group: loop)
            .channelOption(.autoRead, value: false)
            .channelOption(.maxMessagesPerRead, value: 1)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 16 * 1024))
            .connect(host: target.host, port: target.port)
            .whenComplete { [self] result in
                switch result {
                case .failure:
                    client.close(promise: nil)
                case .success(let channel):
                    guard !cutDone, client.isActive else {
                        channel.close(promise: nil)
                        client.close(promise: nil)
                        return
                    }
                    upstream = channel
                    do {
                        try channel.pipeline.syncOperations.addHandler(SideHandler(connection: self, isClient: false))
                    } catch {
                        channel.close(promise: nil)
                        client.close(promise: nil)
                        return
                    }
                    maybeRead(up)
                    maybeRead(down)
                }
            }
    }

    func source(_ d: Direction) -> (any Channel)? { d.toTarget ? client : upstream }
    func sink(_ d: Direction) -> (any Channel)? { d.toTarget ? upstream : client }
    func direction(fromClient: Bool) -> Direction { fromClient ? up : down }

    // MARK: events from the channels

    func read(_ buffer: ByteBuffer, fromClient: Bool) {
        let d = direction(fromClient: fromClient)
        guard !cutDone, !d.sinkClosed else {
            proxy.dropped(bytes: buffer.readableBytes)
            return
        }
        let profile = proxy.profile
        let now = NIODeadline.now()
        let latency = TimeAmount.nanoseconds(profile.latency.totalNanoseconds)
        var buffer = buffer
        if let rate = profile.bytesPerSecond {
            while buffer.readableBytes > 0, let slice = buffer.readSlice(length: min(profile.sliceBytes, buffer.readableBytes)) {
                d.transmitted = max(d.transmitted, now) + .nanoseconds(Int64(slice.readableBytes) * 1_000_000_000 / Int64(rate))
                d.queue.append((d.transmitted + latency, slice))
                d.queued += slice.readableBytes
            }
        } else {
            d.queued += buffer.readableBytes
            d.queue.append((now + latency, buffer))
        }
        scheduleDelivery(d)
    }

    func readComplete(fromClient: Bool) {
        maybeRead(direction(fromClient: fromClient))
    }

    func writabilityChanged(ofClient: Bool) {
        // The channel whose writability changed is the sink of the direction toward it.
        scheduleDelivery(direction(fromClient: !ofClient))
    }

    func inactive(isClient: Bool) {
        guard !cutDone else { return }
        // Toward the closed side: nothing can be delivered any more.
        let toward = direction(fromClient: !isClient)
        toward.timer?.cancel()
        toward.timer = nil
        proxy.dropped(bytes: toward.queued)
        toward.queue.removeAll()
        toward.queued = 0
        toward.sinkClosed = true
        // From the closed side: deliver what was read, then close the far side.
        let from = direction(fromClient: isClient)
        from.sourceClosed = true
        if from.queue.isEmpty { sink(from)?.close(promise: nil) }
    }

    /// Closes both sides now and drops what is queued.
    func cut() {
        loop.execute { [self] in
            guard !cutDone else { return }
            cutDone = true
            for d in [up, down] {
                d.timer?.cancel()
                d.timer = nil
                proxy.dropped(bytes: d.queued)
                d.queue.removeAll()
                d.queued = 0
            }
            client.close(promise: nil)
            upstream?.close(promise: nil)
        }
    }

    // MARK: pacing

    /// Asks the source for one more read while the queue has room. NIO's `read()` is idempotent
    /// (one outstanding read at most), so it is asked again rather than tracked here: a read that
    /// finds nothing need not end in `channelReadComplete`.
    func maybeRead(_ d: Direction) {
        guard !cutDone, !d.sourceClosed, !d.sinkClosed, d.queued < proxy.profile.queueLimit,
            let source = source(d), sink(d) != nil
        else { return }
        source.read()
    }

    func scheduleDelivery(_ d: Direction) {
        guard !cutDone, d.timer == nil, let head = d.queue.first, let sink = sink(d) else { return }
        guard sink.isWritable else { return }  // resumed by channelWritabilityChanged
        if head.at <= .now() {
            deliverDue(d)
        } else {
            d.timer = loop.scheduleTask(deadline: head.at) { [self] in
                d.timer = nil
                deliverDue(d)
            }
        }
    }

    func deliverDue(_ d: Direction) {
        guard !cutDone, let sink = sink(d) else { return }
        let now = NIODeadline.now()
        var wrote = false
        while let head = d.queue.first, head.at <= now, sink.isWritable, !d.sinkClosed {
            d.queue.removeFirst()
            let size = head.slice.readableBytes
            d.queued -= size
            let toTarget = d.toTarget
            let promise = loop.makePromise(of: Void.self)
            promise.futureResult.whenSuccess { [proxy] in proxy.add(bytes: size, toTarget: toTarget) }
            sink.write(head.slice, promise: promise)
            wrote = true
        }
        if wrote { sink.flush() }
        if d.sourceClosed && d.queue.isEmpty {
            sink.close(promise: nil)
            return
        }
        maybeRead(d)
        scheduleDelivery(d)
    }

    final class Direction: @unchecked Sendable {
        let toTarget: Bool
        var queue = CircularBuffer<(at: NIODeadline, slice: ByteBuffer)>()
        var queued = 0
        /// When the last queued slice finishes transmitting at the link's rate.
        var transmitted = NIODeadline.uptimeNanoseconds(0)
        var timer: Scheduled<Void>? = nil
        var sourceClosed = false
        var sinkClosed = false
        init(toTarget: Bool) { self.toTarget = toTarget }
    }
}

/// Passes one channel's events to its `ProxiedConnection`.
final class SideHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let connection: ProxiedConnection
    let isClient: Bool

    init(connection: ProxiedConnection, isClient: Bool) {
        self.connection = connection
        self.isClient = isClient
    }

    func channelActive(context: ChannelHandlerContext) {
        if isClient { connection.connect(to: connection.proxy.target) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.read(unwrapInboundIn(data), fromClient: isClient)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        connection.readComplete(fromClient: isClient)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection.writabilityChanged(ofClient: isClient)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.inactive(isClient: isClient)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

extension Duration {
    var totalNanoseconds: Int64 {
        let c = components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }
}

import Foundation
import IncidentBench
import NIOCore
import NIOPosix
import Synchronization
import Testing
import Wire

/// The link proxy alone, in process (no incidentd): pacing each way, latency, cuts, counters,
/// the seeded cut schedule. Generous upper bounds: CI machines are loaded.
@Suite(.serialized) struct LinkProxyTests {
    @Test(.timeLimit(.minutes(1)))
    func bothDirectionsArePacedAtTheRate() async throws {
        let size = 64 * 1024
        let target = try await Endpoint.listen(sendOnConnect: size)
        let proxy = try await LinkProxy.start(to: target.address, profile: LinkProfile(bytesPerSecond: 32 * 1024))
        let start = ContinuousClock.now
        let client = try await Endpoint.connect(to: proxy.address)
        client.send(size)
        try await client.waitReceived(size, timeout: .seconds(30))
        let down = ContinuousClock.now - start
        try await target.waitReceived(size, timeout: .seconds(30))
        let up = ContinuousClock.now - start
        // 64 KiB at 32 KiB/s: 2 s, less the first slice.
        #expect(down >= .milliseconds(1_800), "target → client took \(down)")
        #expect(up >= .milliseconds(1_800), "client → target took \(up)")
        #expect(down < .seconds(15) && up < .seconds(15), "far slower than the rate: \(down), \(up)")
        try await Task.sleep(for: .milliseconds(100))
        let c = proxy.counters
        #expect(c.bytesToTarget == size && c.bytesToClient == size)
        #expect(c.connectionsAccepted == 1 && c.cuts == 0 && c.bytesDropped == 0)
        await client.close()
        await proxy.stop()
        await target.close()
    }

    @Test(.timeLimit(.minutes(1)))
    func latencyIsAddedEachWay() async throws {
        let target = try await Endpoint.listen(echo: true)
        let proxy = try await LinkProxy.start(to: target.address, profile: LinkProfile(latency: .milliseconds(300)))
        let client = try await Endpoint.connect(to: proxy.address)
        let start = ContinuousClock.now
        client.send(100)
        try await target.waitReceived(100, timeout: .seconds(10))
        let oneWay = ContinuousClock.now - start
        try await client.waitReceived(100, timeout: .seconds(10))
        let roundTrip = ContinuousClock.now - start
        #expect(oneWay >= .milliseconds(300), "one way took \(oneWay)")
        #expect(roundTrip >= .milliseconds(600), "the round trip took \(roundTrip)")
        #expect(roundTrip < .seconds(5))
        await client.close()
        await proxy.stop()
        await target.close()
    }

    /// A scheduled cut closes both sides and is counted (what it drops:
    /// `aCutDropsWhatTheProxyHolds`; a connection after a cut: `cutOnDemandClosesEveryConnection`).
    @Test(.timeLimit(.minutes(1)))
    func aCutClosesTheConnectionAndIsCounted() async throws {
        let size = 64 * 1024
        let target = try await Endpoint.listen(sendOnConnect: size)
        let schedule = CutSchedule(minimum: .milliseconds(400), maximum: .milliseconds(700), seed: 7)
        let proxy = try await LinkProxy.start(to: target.address, profile: LinkProfile(bytesPerSecond: 8 * 1024, cuts: schedule))
        let client = try await Endpoint.connect(to: proxy.address)
        try await client.waitClosed(timeout: .seconds(10))
        try await target.waitClosedConnections(1, timeout: .seconds(10))
        let c = proxy.counters
        #expect(c.cuts >= 1)
        #expect(c.connectionsAccepted == 1)
        #expect(client.received < size, "the whole 64 KiB arrived at 8 KiB/s before a cut at most 0.7 s in")
        #expect(c.bytesToClient == client.received)
        // What the cut dropped is checked in aCutDropsWhatTheProxyHolds: the schedule runs from
        // the proxy's start, and a loaded test process may connect so late that the first cut
        // finds nothing read from the target yet.
        let first = try #require(proxy.cutTimes.first)
        #expect(first >= schedule.intervals(1)[0], "the first cut came before its moment")
        await proxy.stop()
        await target.close()
    }

    /// A cut drops the bytes the proxy holds toward the slow side, and counts them: 64 KiB sent
    /// at once, paced at 8 KiB/s, cut once the first of them arrived.
    @Test(.timeLimit(.minutes(1)))
    func aCutDropsWhatTheProxyHolds() async throws {
        let size = 64 * 1024
        let target = try await Endpoint.listen(sendOnConnect: size)
        let proxy = try await LinkProxy.start(to: target.address, profile: LinkProfile(bytesPerSecond: 8 * 1024))
        let client = try await Endpoint.connect(to: proxy.address)
        try await client.waitReceived(1, timeout: .seconds(10))
        proxy.cut()
        try await client.waitClosed(timeout: .seconds(10))
        try await target.waitClosedConnections(1, timeout: .seconds(10))
        let c = proxy.counters
        #expect(c.cuts == 1)
        #expect(c.bytesToClient == client.received)
        #expect(client.received < size)
        #expect(c.bytesDropped > 0, "the cut dropped nothing the proxy held")
        #expect(c.bytesToClient + c.bytesDropped <= size)
        await proxy.stop()
        await target.close()
    }

    /// `cut()` closes every open connection, as a scheduled cut does (the same code), and the
    /// next connection is accepted right after and carries data. Checked here, with no schedule
    /// that could cut it again: after a scheduled cut the next one comes within 0.4–0.7 s, and a
    /// loaded test process can take that long to connect.
    @Test(.timeLimit(.minutes(1)))
    func cutOnDemandClosesEveryConnection() async throws {
        let target = try await Endpoint.listen(echo: true)
        let proxy = try await LinkProxy.start(to: target.address, profile: LinkProfile(bytesPerSecond: 100_000))
        let a = try await Endpoint.connect(to: proxy.address)
        let b = try await Endpoint.connect(to: proxy.address)
        a.send(10)
        b.send(10)
        try await a.waitReceived(10, timeout: .seconds(10))
        try await b.waitReceived(10, timeout: .seconds(10))
        proxy.cut()
        try await a.waitClosed(timeout: .seconds(10))
        try await b.waitClosed(timeout: .seconds(10))
        try await target.waitClosedConnections(2, timeout: .seconds(10))
        #expect(proxy.counters.cuts == 1 && proxy.counters.connectionsAccepted == 2)
        let again = try await Endpoint.connect(to: proxy.address)
        again.send(10)
        try await again.waitReceived(10, timeout: .seconds(10))
        #expect(proxy.counters.connectionsAccepted == 3)
        await again.close()
        await proxy.stop()
        await target.close()
    }

    @Test func theSameSeedGivesTheSameCutSchedule() {
        let a = CutSchedule(minimum: .milliseconds(7_500), maximum: .milliseconds(22_500), seed: 42)
        let intervals = a.intervals(200)
        #expect(intervals == a.intervals(200))
        #expect(intervals == CutSchedule(minimum: .milliseconds(7_500), maximum: .milliseconds(22_500), seed: 42).intervals(200))
        #expect(intervals != CutSchedule(minimum: .milliseconds(7_500), maximum: .milliseconds(22_500), seed: 43).intervals(200))
        #expect(intervals.allSatisfy { $0 >= .milliseconds(7_500) && $0 <= .milliseconds(22_500) })
        let mean = intervals.reduce(Duration.zero, +) / 200
        #expect(mean > .seconds(13) && mean < .seconds(17), "uniform in [7.5, 22.5] s averages 15 s, got \(mean)")
    }

    /// Reads stop while the queue toward the slow side is full: the proxy does not swallow a fast
    /// sender's megabyte.
    @Test(.timeLimit(.minutes(1)))
    func aFastSenderIsHeldBackNotBuffered() async throws {
        let target = try await Endpoint.listen()
        let proxy = try await LinkProxy.start(to: target.address, profile: LinkProfile(bytesPerSecond: 4 * 1024, queueLimit: 16 * 1024))
        let client = try await Endpoint.connect(to: proxy.address)
        let written = client.sendCountingWritten(32 << 20)
        try await Task.sleep(for: .seconds(1))
        // 32 MiB offered: what left the client is bounded by the socket buffers plus the proxy's queue.
        #expect(written.value < 32 << 20, "the whole 32 MiB was taken at once")
        #expect(target.received < 16 * 1024, "more than the rate let through")
        await client.close()
        await proxy.stop()
        await target.close()
    }
}

/// A test TCP endpoint: a listener (target) or a connection (client), counting what it receives.
final class Endpoint: Sendable {
    struct State {
        var received = 0
        var closedConnections = 0
    }
    let state = Mutex(State())
    let channel: Mutex<(any Channel)?> = Mutex(nil)
    let address: HostPort

    init(address: HostPort) { self.address = address }

    var received: Int { state.withLock { $0.received } }

    static func listen(sendOnConnect: Int = 0, echo: Bool = false) async throws -> Endpoint {
        let box = Mutex<Endpoint?>(nil)
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    let endpoint = box.withLock { $0 }!
                    try child.pipeline.syncOperations.addHandler(Counter(endpoint: endpoint, sendOnConnect: sendOnConnect, echo: echo))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let endpoint = Endpoint(address: HostPort(host: "127.0.0.1", port: server.localAddress!.port!))
        endpoint.channel.withLock { $0 = server }
        box.withLock { $0 = endpoint }
        return endpoint
    }

    static func connect(to address: HostPort) async throws -> Endpoint {
        let endpoint = Endpoint(address: address)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(Counter(endpoint: endpoint, sendOnConnect: 0, echo: false))
                }
            }
            .connect(host: address.host, port: address.port).get()
        endpoint.channel.withLock { $0 = channel }
        return endpoint
    }

    func send(_ count: Int) {
        guard let ch = channel.withLock({ $0 }) else { return }
        ch.writeAndFlush(ByteBuffer(repeating: 0x61, count: count), promise: nil)
    }

    /// Writes `count` bytes in 64 KiB writes; the box counts what the socket took.
    func sendCountingWritten(_ count: Int) -> Counted {
        let counted = Counted()
        guard let ch = channel.withLock({ $0 }) else { return counted }
        var left = count
        while left > 0 {
            let n = min(65_536, left)
            ch.write(ByteBuffer(repeating: 0x62, count: n)).whenSuccess { counted.add(n) }
            left -= n
        }
        ch.flush()
        return counted
    }

    final class Counted: Sendable {
        let m = Mutex(0)
        func add(_ n: Int) { m.withLock { $0 += n } }
        var value: Int { m.withLock { $0 } }
    }

    func waitReceived(_ count: Int, timeout: Duration) async throws {
        try await waitUntil(timeout: timeout, "received \(received) of \(count) bytes") { self.received >= count }
    }

    func waitClosed(timeout: Duration) async throws {
        try await waitClosedConnections(1, timeout: timeout)
    }

    func waitClosedConnections(_ n: Int, timeout: Duration) async throws {
        try await waitUntil(timeout: timeout, "connections closed: \(state.withLock { $0.closedConnections }) of \(n)") {
            self.state.withLock { $0.closedConnections } >= n
        }
    }

    func waitUntil(timeout: Duration, _ what: @autoclosure () -> String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TimedOut(description: "timed out: \(what())") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    struct TimedOut: Error, CustomStringConvertible { var description: String }

    func close() async {
        try? await channel.withLock({ $0 })?.close()
    }

    final class Counter: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let endpoint: Endpoint
        let sendOnConnect: Int
        let echo: Bool
        init(endpoint: Endpoint, sendOnConnect: Int, echo: Bool) {
            self.endpoint = endpoint
            self.sendOnConnect = sendOnConnect
            self.echo = echo
        }
        func channelActive(context: ChannelHandlerContext) {
            if sendOnConnect > 0 { context.writeAndFlush(wrapOutboundOut(ByteBuffer(repeating: 0x63, count: sendOnConnect)), promise: nil) }
            context.fireChannelActive()
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            endpoint.state.withLock { $0.received += buffer.readableBytes }
            if echo { context.writeAndFlush(data, promise: nil) }
        }
        func channelInactive(context: ChannelHandlerContext) {
            endpoint.state.withLock { $0.closedConnections += 1 }
            context.fireChannelInactive()
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}

import Logging
public import NIOCore
import NIOPosix
public import ServiceLifecycle
import Synchronization
public import Wire

/// Keeps one session open to each configured peer, redialing with capped exponential backoff
/// and jitter. The peer set can change at run time (SIGHUP): `setPeers` starts and stops dialers.
public final class PeerDialer: Service {
    let context: PeerContext
    let group: any EventLoopGroup
    let peers: Mutex<[HostPort]>
    let changes: AsyncStream<Void>
    let changesContinuation: AsyncStream<Void>.Continuation
    public let backoff: Backoff

    public struct Backoff: Sendable {
        public var initial: Duration = .milliseconds(200)
        public var maximum: Duration = .seconds(30)

        /// The wait before attempt `n` (0-based): initial·2ⁿ capped at maximum, times a random
        /// factor in [0.5, 1] so that nodes that lost a link together do not redial in lockstep.
        public func delay(attempt: Int, random: Double) -> Duration {
            let factor = pow2(min(attempt, 30))
            let capped = min(initial * factor, maximum)
            return capped * (0.5 + 0.5 * random)
        }

        func pow2(_ n: Int) -> Int { 1 << n }

        public init() {}
    }

    public init(peers: [HostPort], context: PeerContext, group: any EventLoopGroup, backoff: Backoff = Backoff()) {
        self.backoff = backoff
        self.context = context
        self.group = group
        self.peers = Mutex(peers)
        (changes, changesContinuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Replaces the peer set: new addresses are dialed, removed ones are disconnected, the others
    /// keep their sessions.
    public func setPeers(_ new: [HostPort]) {
        peers.withLock { $0 = new }
        changesContinuation.yield()
    }

    public var currentPeers: [HostPort] { peers.withLock { $0 } }

    /// Per peer address, a cap on the bytes a second written to it (config `peer_rates`); a peer
    /// not listed has the node-wide cap (`PeerContext.maximumBytesPerSecond`).
    let rates = Mutex<[String: Int]>([:])

    public func setRates(_ new: [String: Int]) { rates.withLock { $0 = new } }

    func rate(_ address: HostPort) -> Int? { rates.withLock { $0[address.description] } ?? context.maximumBytesPerSecond }

    public func run() async {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                var running: [String: Task<Void, Never>] = [:]
                var changes = self.changes.makeAsyncIterator()
                while !Task.isCancelled {
                    let wanted = Dictionary(self.currentPeers.map { ($0.description, $0) }, uniquingKeysWith: { a, _ in a })
                    for (key, task) in running where wanted[key] == nil {
                        task.cancel()
                        running[key] = nil
                        self.context.registry.remove("dial:\(key)")
                    }
                    for (key, address) in wanted where running[key] == nil {
                        let task = Task { await self.dialLoop(address) }
                        running[key] = task
                        group.addTask { await task.value }
                    }
                    guard await changes.next() != nil else { break }
                }
                for task in running.values { task.cancel() }
            }
        }
    }

    /// The registry entry of a configured peer (`status` shows it under this key).
    public static func registryKey(_ address: HostPort) -> String { "dial:\(address)" }

    func dialLoop(_ address: HostPort) async {
        let key = Self.registryKey(address)
        context.registry.update(key, direction: "out") { $0.address = address.description }
        var attempt = 0
        while !Task.isCancelled {
            do {
                let context = self.context
                let connection = try await ClientBootstrap(group: group)
                    .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                    .connectTimeout(.seconds(5))
                    .connect(host: address.host, port: address.port) { channel in
                        channel.eventLoop.makeCompletedFuture { try PeerLink.configure(channel, server: false, context: context) }
                    }
                let began = ContinuousClock.now
                let established = await PeerLink.run(
                    connection, context: context, registryKey: key, direction: "out", maximumBytesPerSecond: rate(address))
                if established && began.duration(to: .now) >= .seconds(2) {
                    // The link was up: it was cut, or the peer went away. Redial at once (a
                    // cut VSAT link is often back within seconds); backoff is for peers that
                    // refuse, cannot be reached, or end every session as soon as it begins.
                    attempt = 0
                    continue
                }
            } catch {
                context.registry.update(key, direction: "out") { $0.lastError = "cannot connect: \(error)" }
                context.logger.debug("peer dial failed", metadata: ["sync.address": "\(address)", "error": "\(error)"])
            }
            let delay = backoff.delay(attempt: attempt, random: Double.random(in: 0...1))
            attempt += 1
            do { try await Task.sleep(for: delay) } catch { return }
        }
    }
}

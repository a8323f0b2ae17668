import NIOCore

/// The requests one event loop serves, as far as an append needs to know whether it may be
/// committed on that loop (`ClientConnectionHandler.submit`).
///
/// A lone append is cheapest committed on the event loop that read it: no thread is woken, and
/// its answer goes out as soon as its fdatasync returns. But while the loop sits in that
/// fdatasync (0.1–0.5 ms here) it serves no other connection: a view query that arrives
/// meanwhile waits for it. So an append is committed on the loop only when no other connection
/// of that loop has sent a request for `quietWindow`; otherwise the store's writer thread
/// commits it and the loop goes on answering. Measured with `incidentctl bench query` (4 query
/// clients, 1,000 appends/s, no rate limit), 4 runs of each alternated: sector queries 28,600/s
/// against 24,200/s (medians), query p99 0.26–0.36 ms against 0.38–0.48 ms. With one connection
/// alone nothing changes.
///
/// It keeps the last request and the last one from another connection than that: the latest
/// request by anyone but a given connection is one of the two. Touched only on its event loop,
/// by the handlers of that loop's connections (hence `@unchecked Sendable`: the listener hands
/// each loop's instance to the handlers it creates there). Each request reads the clock once
/// (`ClientConnectionHandler.handle`) for this, the connection's activity and its rate limit.
final class LoopTraffic: @unchecked Sendable {
    /// How long after another connection's request an append is still left to the writer.
    static let quietWindow = Duration.milliseconds(2)
    /// `quietWindow`, or a test's (`TestHooks.appendQuietWindow`).
    let window: Duration

    init(window: Duration = LoopTraffic.quietWindow) {
        self.window = window
    }

    struct Seen {
        var connection: Int
        var at: ContinuousClock.Instant
    }

    /// The most recent request on this loop.
    private var latest: Seen?
    /// The most recent request from a connection other than `latest`'s.
    private var latestOther: Seen?

    /// Notes a request of `connection`, read at `now`.
    func note(connection: Int, at now: ContinuousClock.Instant) {
        if let last = latest, last.connection != connection { latestOther = last }
        latest = Seen(connection: connection, at: now)
    }

    /// Whether some connection other than `connection` sent a request within `window` before
    /// `now`.
    func othersBusy(besides connection: Int, at now: ContinuousClock.Instant) -> Bool {
        guard let other = latest?.connection == connection ? latestOther : latest else { return false }
        return other.at.duration(to: now) < window
    }

    /// One instance per event loop of `group`, by the loop's identity.
    static func perLoop(of group: any EventLoopGroup, window: Duration = LoopTraffic.quietWindow) -> [ObjectIdentifier: LoopTraffic] {
        var traffic: [ObjectIdentifier: LoopTraffic] = [:]
        for loop in group.makeIterator() { traffic[ObjectIdentifier(loop)] = LoopTraffic(window: window) }
        return traffic
    }
}

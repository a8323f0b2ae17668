import Wire

/// The limits of the client API (Config/README.md has a key for each, docs/SECURITY.md the threats). Each has its
/// own error code; none lets a client grow the node's memory without bound:
///
/// - a request line: `max_line_bytes` (`line_too_long`), buffered lines per connection: 4;
/// - an append: `max_events_per_append` (`too_many_events`);
/// - connections: `max_connections` in total, `max_connections_per_address` from one address
///   (`too_many_connections`, answered then closed);
/// - output a client has not read: `max_pending_output_bytes` (reading stops above it;
///   `slow_consumer` and close when it stays above for `slow_consumer_timeout_ms`); a `read`
///   response stops early at that size too;
/// - requests: a token bucket of `requests_per_second` refilled per second, holding at most
///   `request_burst` (`rate_limited`; the request is not run);
/// - time: `handshake_timeout_ms` from connect to the first answered request (to a successful
///   `auth` where tokens are required), `idle_timeout_ms` between requests (`idle_timeout`).
///
/// So a connection holds at most 5 × `max_line_bytes` of input and about 2 ×
/// `max_pending_output_bytes` of output, and the node `max_connections` times that.
public struct ClientLimits: Sendable, Equatable {
    public var maximumConnections = 512
    public var maximumConnectionsPerAddress = 64
    public var maximumPendingOutputBytes = 4 << 20
    public var slowConsumerTimeout = Duration.seconds(10)
    /// 0: no rate limit.
    public var requestsPerSecond = 10_000
    public var requestBurst = 20_000
    public var idleTimeout = Duration.seconds(120)
    public var handshakeTimeout = Duration.seconds(10)

    public init() {}
}

/// A token bucket: `rate` tokens a second, at most `burst` held; each request takes one. Time is
/// passed in, so tests drive it without a clock. The HTTP listener keeps one per connection too.
public struct TokenBucket: Sendable {
    let rate: Double
    let burst: Double
    var tokens: Double
    var last: ContinuousClock.Instant

    /// `rate` 0 never refuses.
    public init(rate: Int, burst: Int, now: ContinuousClock.Instant) {
        self.rate = Double(rate)
        self.burst = Double(max(burst, 1))
        tokens = self.burst
        last = now
    }

    /// Takes a token; false when the bucket is empty (the request is refused, nothing taken).
    public mutating func take(now: ContinuousClock.Instant) -> Bool {
        guard rate > 0 else { return true }
        let elapsed = last.duration(to: now)
        if elapsed > .zero {
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            tokens = min(burst, tokens + seconds * rate)
            last = now
        }
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

extension HostPort {
    /// Whether the address is on loopback: `localhost`, 127.0.0.0/8, `::1` (also v4-mapped).
    /// Any other name counts as not loopback: it may resolve anywhere.
    var isLoopback: Bool { Self.isLoopback(host: host) }

    static func isLoopback(host: String) -> Bool {
        var h = host.lowercased()
        if h.hasPrefix("::ffff:") { h = String(h.dropFirst(7)) }
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}

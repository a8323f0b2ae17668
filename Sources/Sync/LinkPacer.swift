/// Sizes a session's `events` messages and bounds what it has in flight, from what the session
/// measures of its own link. Pure: the driver reports sends and acknowledgements with their
/// instants; tests drive it with made-up ones.
///
/// - Throughput: each `ack` (they come in order, one per message) gives a delivery-rate sample
///   as TCP BBR takes one: the raw bytes acknowledged since this message was sent, over the time
///   since the ack that preceded its send. Acks that arrive bunched (held up behind other traffic,
///   or by a proxy) therefore cannot make a tiny interval and a huge sample. The estimate is the
///   largest of the last few samples, so one sample taken on an idle link (where the round trip
///   dominates) does not drag it down.
/// - Message size: grows toward `targetSeconds` of the estimate, at most twofold per ack, from
///   `initialBytes` (a new session starts small), between `minimumBytes` and `maximumBytes`. An
///   ack slower than `slowAck` halves it. So no message needs more than about `targetSeconds` of
///   the link to arrive whole, and a cut costs at most what is in flight.
/// - In flight: at most `maximumMessages` messages, and, on a link whose round trip is 100 ms or
///   more, at most the bytes the link carries in two round trips plus `targetSeconds` (at least
///   two messages): enough to keep the link busy and
///   let the estimate grow, little enough that a fresh event or a control line never waits
///   behind much more than a second.
///
/// On loopback the estimate is hundreds of MB/s: messages reach `maximumBytes` within a few acks
/// and the window is `maximumMessages`: a fast link stays fast.
public struct LinkPacer: Sendable {
    public struct Configuration: Sendable {
        public var minimumBytes = 2 << 10
        public var initialBytes = 8 << 10
        public var maximumBytes = 1 << 20
        public var maximumMessages = 8
        public var targetSeconds = 0.5
        public var slowAck: Duration = .seconds(4)
        /// Compression pays on links whose round trip is at least this: a field link's (VSAT,
        /// HF data) is hundreds of milliseconds; loopback's and a LAN's well under one, and a
        /// handshake on a machine busy enough to take this long on loopback is rare.
        public var compressAboveRoundTrip: Duration = .milliseconds(100)
        /// A per-peer cap below this many bytes a second also turns compression on.
        public var compressBelowCap = 8_000_000
        public init() {}
    }

    struct Sent {
        var at: ContinuousClock.Instant
        var bytes: Int
        /// `delivered` and `deliveredAt` when it was sent.
        var deliveredBefore: Int
        var deliveredBeforeAt: ContinuousClock.Instant
    }

    public let configuration: Configuration
    /// The size the next message aims at, in raw (uncompressed) bytes.
    public private(set) var messageBytes: Int
    /// Raw bytes per second the link delivered, as far as measured (0: nothing measured yet).
    public private(set) var bytesPerSecond: Double = 0
    /// The shortest time from a send to its ack seen in this session.
    public private(set) var minimumRoundTrip: Duration? = nil
    var inFlight: [Sent] = []  // at most `maximumMessages`
    public private(set) var inFlightBytes = 0
    /// Raw bytes acknowledged in this session, and when the last of them was.
    var delivered = 0
    var deliveredAt: ContinuousClock.Instant? = nil
    /// Acknowledgements in this session.
    public private(set) var acks = 0
    var samples: [Double] = []

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        messageBytes = min(configuration.maximumBytes, max(configuration.minimumBytes, configuration.initialBytes))
    }

    /// Messages sent and not yet acknowledged.
    public var inFlightMessages: Int { inFlight.count }

    /// Whether another message may go now.
    public var canSend: Bool {
        guard !inFlight.isEmpty else { return true }
        guard inFlight.count < configuration.maximumMessages else { return false }
        // On a link with a short round trip (loopback, a LAN) nothing waits long behind a
        // message: the window of messages alone bounds what is in flight, as a catch-up at the
        // speed of the disk wants; the bytes bound is for links where a second counts.
        if let rtt = minimumRoundTrip, rtt < configuration.compressAboveRoundTrip { return true }
        return inFlightBytes + messageBytes <= inFlightLimit
    }

    /// Bytes in flight at most: what the link carries in two round trips plus `targetSeconds`,
    /// and room for two messages whatever the estimate. Two round trips, because a sample is at
    /// most what was in flight over a round trip: with one, an estimate taken while the window
    /// held the link back could never grow past itself.
    public var inFlightLimit: Int {
        let rtt = minimumRoundTrip.map(Self.seconds) ?? 0
        let carried = bytesPerSecond * (2 * rtt + configuration.targetSeconds)
        return max(2 * messageBytes, carried.isFinite ? Int(min(carried, Double(Int.max / 2))) : Int.max / 2)
    }

    public mutating func sent(bytes: Int, at now: ContinuousClock.Instant) {
        // Sent on an idle link: the interval starts now, not at an ack long ago.
        if inFlight.isEmpty { deliveredAt = now }
        inFlight.append(Sent(at: now, bytes: bytes, deliveredBefore: delivered, deliveredBeforeAt: deliveredAt ?? now))
        inFlightBytes += bytes
    }

    /// The oldest message in flight was acknowledged.
    public mutating func acknowledged(at now: ContinuousClock.Instant) {
        guard !inFlight.isEmpty else { return }
        let message = inFlight.removeFirst()
        inFlightBytes -= message.bytes
        acks += 1
        let roundTrip = message.at.duration(to: now)
        minimumRoundTrip = min(minimumRoundTrip ?? roundTrip, roundTrip)
        delivered += message.bytes
        deliveredAt = now
        let interval = max(Self.seconds(message.deliveredBeforeAt.duration(to: now)), 1e-6)
        samples.append(Double(delivered - message.deliveredBefore) / interval)
        if samples.count > 6 { samples.removeFirst() }
        bytesPerSecond = samples.max() ?? 0
        if roundTrip > configuration.slowAck {
            messageBytes = max(configuration.minimumBytes, messageBytes / 2)
        } else {
            // Grows toward the target, at most twofold per ack; only a slow ack (or a new
            // session) shrinks it: a sample taken while little was in flight is low, and shrinking
            // on it would keep the link idle.
            let target = bytesPerSecond * configuration.targetSeconds
            let wanted = target.isFinite ? Int(min(target, Double(configuration.maximumBytes))) : configuration.maximumBytes
            messageBytes = min(configuration.maximumBytes, max(configuration.minimumBytes, messageBytes, min(wanted, 2 * messageBytes)))
        }
    }

    /// Whether the link is slow enough for compression to pay: the two round trips (or more)
    /// measured so far each took `compressAboveRoundTrip` (100 ms) or more, as on a field link (VSAT, HF data), known before a
    /// cut is likely to end the session. Throughput alone does not decide: the first messages are
    /// small (8 KiB, doubling per ack) and a receiver that fsyncs each one acknowledges them at a
    /// few MB/s even on loopback, where deflating every byte would cost more CPU than it saves.
    /// (A configured cap is a reason of its own: see `WireBudget`.)
    public var wantsCompression: Bool {
        guard acks >= 2, let rtt = minimumRoundTrip else { return false }
        return rtt >= configuration.compressAboveRoundTrip
    }

    /// Raw bytes sent and never acknowledged (at the end of a session: lost to the cut).
    public var unacknowledgedBytes: Int { inFlightBytes }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}

public import IncidentModel
import Synchronization

/// Events that arrived ahead of their origin's chain (a peer's `fresh` lane, docs/PROTOCOL.md
/// "Fresh events first"): verified on their own — hash, and a signature from the origin's trusted
/// key over them or over the run they end — but not yet storable, since the log takes an origin's
/// events only in seq order. Held here, node-wide and across sessions, until the backlog fills
/// the gap; then they are stored like any other event (`promotable`), and dropped from here once
/// the log holds their seq (`release`).
///
/// Views list held events as provisional (never folded into the counts): two nodes holding the
/// same log and the same held events answer the same bytes. Held events are kept in memory only:
/// after a restart the peer sends them again, first.
///
/// Bounded: at most `maximumEvents` and `maximumBytes`; past that a fresh event is not held (the
/// backlog delivers it in order, later).
public final class HeldEvents: Sendable {
    public let maximumEvents: Int
    public let maximumBytes: Int

    struct State {
        var byOrigin: [String: [UInt64: Event]] = [:]
        var count = 0
        var bytes = 0
    }
    let state = Mutex(State())

    public static let defaultMaximumEvents = 4096

    public init(maximumEvents: Int = defaultMaximumEvents, maximumBytes: Int = 8 << 20) {
        self.maximumEvents = maximumEvents
        self.maximumBytes = maximumBytes
    }

    /// Holds a verified event beyond `vector`. False when it is already held, or the bound is reached.
    @discardableResult
    public func hold(_ event: Event) -> Bool {
        state.withLock { s in
            guard s.byOrigin[event.origin]?[event.seq] == nil else { return false }
            guard s.count < maximumEvents, s.bytes + event.line.count <= maximumBytes else { return false }
            s.byOrigin[event.origin, default: [:]][event.seq] = event
            s.count += 1
            s.bytes += event.line.count
            return true
        }
    }

    /// Drops what the log now holds (seq ≤ the vector's), and returns, per origin, the held events
    /// that follow on from the vector without a gap, in seq order: the caller stores them.
    public func promotable(after vector: VersionVector) -> [Event] {
        guard count > 0 else { return [] }
        release(upTo: vector)
        return state.withLock { s in
            var out: [Event] = []
            for (origin, events) in s.byOrigin.sorted(by: { $0.key < $1.key }) {
                var next = vector[origin] + 1
                while let e = events[next] {
                    out.append(e)
                    next += 1
                }
            }
            return out
        }
    }

    /// Forgets every held event whose seq the log holds.
    public func release(upTo vector: VersionVector) {
        state.withLock { s in
            for (origin, events) in s.byOrigin {
                let held = vector[origin]
                guard events.keys.contains(where: { $0 <= held }) else { continue }
                var kept = events
                for (seq, e) in events where seq <= held {
                    kept[seq] = nil
                    s.count -= 1
                    s.bytes -= e.line.count
                }
                s.byOrigin[origin] = kept.isEmpty ? nil : kept
            }
        }
    }

    /// Forgets these events (the log took or refused them).
    public func drop(_ events: [Event]) {
        state.withLock { s in
            guard s.count > 0 else { return }  // the common case: a catch-up holds nothing
            for e in events {
                guard let held = s.byOrigin[e.origin]?.removeValue(forKey: e.seq) else { continue }
                s.count -= 1
                s.bytes -= held.line.count
                if s.byOrigin[e.origin]?.isEmpty == true { s.byOrigin[e.origin] = nil }
            }
        }
    }

    /// Every held event, ordered by id (origin, then seq): the same on every node holding them.
    public var events: [Event] {
        state.withLock { s in
            guard s.count > 0 else { return [] }  // the common case: asked by every view query
            return s.byOrigin.sorted { $0.key < $1.key }.flatMap { _, events in events.sorted { $0.key < $1.key }.map(\.value) }
        }
    }

    public var count: Int { state.withLock { $0.count } }
}

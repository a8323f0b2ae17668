public import EventStore
public import IncidentModel

/// Checks events arriving from a peer or a bundle before they go to the store.
///
/// One Ed25519 verification per commit batch, not per event: the origin signs the last event of
/// each commit; every event's hash is recomputed from its bytes; and within a run of one origin's
/// events, each `prev` must equal the hash before it. So a valid signature on the last event of a
/// run vouches for the whole run. Unsigned events wait (bounded) for the signed one that ends
/// their run; the store then checks the run's first `prev` against the held chain.
public struct IngestVerifier: Sendable {
    public var trust: TrustList
    /// Most bytes of unsigned events held per origin while waiting for a signature.
    public let maximumPendingBytes: Int
    var pending: [String: [Event]] = [:]
    var pendingBytes: [String: Int] = [:]

    public init(trust: TrustList, maximumPendingBytes: Int = 32 << 20) {
        self.trust = trust
        self.maximumPendingBytes = maximumPendingBytes
    }

    /// What checking produced: events ready for the store, events refused one by one (the
    /// session goes on), and a fatal refusal (forgery or garbage: the session ends).
    public struct Output: Sendable {
        public var verified: [Event] = []
        public var refused: [Refusal] = []
        public var fatal: Refusal? = nil
    }

    public struct Refusal: Sendable, Equatable, CustomStringConvertible {
        public var id: String
        public var code: String
        public var message: String
        public var description: String { "\(code): \(id): \(message)" }
    }

    /// Checks `lines` in order. Stops at the first fatal refusal.
    public mutating func check(_ lines: [[UInt8]]) -> Output {
        var out = Output()
        for line in lines {
            let event: Event
            do {
                event = try Event.parse(line: line)
            } catch {
                out.fatal = Refusal(id: "?", code: "invalid_event", message: "not an event line: \(error)")
                return out
            }
            guard event.hashIsValid else {
                out.fatal = Refusal(id: event.id, code: "bad_hash", message: "hash does not match the event's bytes")
                return out
            }
            guard let key = trust[event.origin] else {
                out.refused.append(Refusal(id: event.id, code: "untrusted_origin", message: "no trusted key for origin \(event.origin)"))
                continue
            }
            // The run is mutated in place in the dictionary: taking it out and putting it back
            // would copy the whole run on every event (quadratic in the run's length).
            if let last = pending[event.origin]?.last, event.seq != last.seq + 1 || event.prev != last.hash {
                out.fatal = Refusal(id: event.id, code: "bad_chain", message: "does not follow \(last.id) in its chain")
                return out
            }
            guard event.signature != nil else {
                let bytes = (pendingBytes[event.origin] ?? 0) + line.count
                guard bytes <= maximumPendingBytes else {
                    out.fatal = Refusal(
                        id: event.id, code: "unsigned_run_too_long",
                        message: "more than \(maximumPendingBytes) bytes of unsigned events from \(event.origin)")
                    return out
                }
                pending[event.origin, default: []].append(event)
                pendingBytes[event.origin] = bytes
                continue
            }
            guard event.signatureIsValid(publicKey: key) else {
                out.fatal = Refusal(id: event.id, code: "bad_signature", message: "signature does not verify with \(event.origin)'s trusted key")
                return out
            }
            if let run = pending.removeValue(forKey: event.origin) { out.verified.append(contentsOf: run) }
            out.verified.append(event)
            pendingBytes[event.origin] = nil
        }
        return out
    }

    /// Events still waiting for a signature (dropped when a session ends; the peer resends them).
    public var pendingCount: Int { pending.values.reduce(0) { $0 + $1.count } }

    /// After a fatal refusal on a connection that goes on (a client's `ingest`, not a peer
    /// session): the unsigned run of the refused event's origin can never be completed, so it is
    /// refused with it — else it would poison every later bundle of that origin on the connection.
    public mutating func dropRun(of fatal: Refusal) -> [Refusal] {
        guard let colon = fatal.id.lastIndex(of: ":") else { return [] }
        let origin = String(fatal.id[..<colon])
        let refusals = (pending[origin] ?? []).map {
            Refusal(id: $0.id, code: fatal.code, message: "waits on \(fatal.id), which was refused")
        }
        pending[origin] = nil
        pendingBytes[origin] = nil
        return refusals
    }

    /// Ends the input: every run still unsigned is refused.
    public mutating func finish() -> [Refusal] {
        let refusals = pending.values.flatMap { $0 }.map {
            Refusal(id: $0.id, code: "unsigned", message: "no signed event ends this run of \($0.origin)")
        }
        pending = [:]
        pendingBytes = [:]
        return refusals
    }
}

extension IngestVerifier.Refusal {
    /// A refusal for an event the store turned down (fork, gap, bad chain).
    public init(event: Event, outcome: IngestOutcome) {
        switch outcome {
        case .refused(let code, let message): self.init(id: event.id, code: code.rawValue, message: message)
        default: self.init(id: event.id, code: "internal_error", message: "not refused")
        }
    }
}

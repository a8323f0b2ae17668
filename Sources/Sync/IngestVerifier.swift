import Crypto
import Dispatch
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
    /// Most bytes held across all origins, each event counted as its line plus
    /// `bookkeepingBytesPerEvent` (what the parsed `Event` costs beside its line). A client
    /// connection sets it (a few MiB) so that what a bundle makes the node hold is bounded per
    /// connection, not per origin.
    public let maximumTotalPendingBytes: Int
    /// What a held event costs beyond its line bytes (the `Event` object and its strings), rounded up.
    public static let bookkeepingBytesPerEvent = 256
    var pending: [String: [Event]] = [:]
    var pendingBytes: [String: Int] = [:]
    /// Bytes held across origins, counted as `maximumTotalPendingBytes` says.
    public private(set) var totalPendingBytes = 0
    /// Bundles only (`checkBundle`): trusted origins with a refused event, and which one. Their
    /// later events (higher seq) cannot follow on, so they are skipped, not checked.
    var blocked: [String: (id: String, seq: UInt64)] = [:]

    public init(trust: TrustList, maximumPendingBytes: Int = 32 << 20, maximumTotalPendingBytes: Int = .max) {
        self.trust = trust
        self.maximumPendingBytes = maximumPendingBytes
        self.maximumTotalPendingBytes = maximumTotalPendingBytes
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
    ///
    /// What each line needs on its own (parsing, its hash, its signature against the origin's
    /// trusted key: nearly all the CPU, an Ed25519 verification costing as much as some thirty
    /// events' hashes) is done first, on up to `threads` cores for a long input
    /// (`LineChecks`); the pass in order that follows (chains, runs, bounds) only reads those
    /// results, so the outcome is the same for any `threads`.
    public mutating func check(_ lines: [[UInt8]], threads: Int = 1) -> Output {
        let checks = LineChecks(lines, trust: trust, threads: threads)
        var out = Output()
        for index in lines.indices {
            switch checks.step(index, with: &self) {
            case .held: continue
            case .verified(let events): out.verified += events
            case .refused(let refusal): out.refused.append(refusal)
            case .fatal(let refusal):
                out.fatal = refusal
                return out
            }
        }
        return out
    }

    /// What one line came to.
    enum Step {
        /// Unsigned, held until its run's signed event arrives.
        case held
        /// A signed event and the run it vouches for.
        case verified([Event])
        /// Refused on its own; the input goes on (`untrusted_origin`).
        case refused(Refusal)
        /// A forgery, garbage, a broken chain or too long a run: a peer session ends.
        case fatal(Refusal)
    }

    mutating func step(_ event: Event) -> Step {
        step(event, hashIsValid: event.hashIsValid) { event.signatureIsValid(publicKey: $0) }
    }

    /// `step` with the line's own checks given: its hash, and its signature against a key.
    mutating func step(_ event: Event, hashIsValid: Bool, signatureIsValid: (Curve25519.Signing.PublicKey) -> Bool) -> Step {
        let line = event.line
        guard hashIsValid else {
            return .fatal(Refusal(id: event.id, code: "bad_hash", message: "hash does not match the event's bytes"))
        }
        guard let key = trust[event.origin] else {
            return .refused(Refusal(id: event.id, code: "untrusted_origin", message: "no trusted key for origin \(event.origin)"))
        }
        // The run is mutated in place in the dictionary: taking it out and putting it back
        // would copy the whole run on every event (quadratic in the run's length).
        if let last = pending[event.origin]?.last, event.seq != last.seq + 1 || event.prev != last.hash {
            return .fatal(
                Refusal(id: event.id, code: "bad_chain", message: "does not follow \(last.id) in its chain"))
        }
        guard event.signature != nil else {
            let bytes = (pendingBytes[event.origin] ?? 0) + line.count
            let total = totalPendingBytes + line.count + Self.bookkeepingBytesPerEvent
            guard bytes <= maximumPendingBytes else {
                return .fatal(
                    Refusal(
                        id: event.id, code: "unsigned_run_too_long",
                        message: "more than \(maximumPendingBytes) bytes of unsigned events from \(event.origin)"))
            }
            guard total <= maximumTotalPendingBytes else {
                return .fatal(
                    Refusal(
                        id: event.id, code: "unsigned_run_too_long",
                        message: "more than \(maximumTotalPendingBytes) bytes of unsigned events held on this connection"))
            }
            pending[event.origin, default: []].append(event)
            pendingBytes[event.origin] = bytes
            totalPendingBytes = total
            return .held
        }
        guard signatureIsValid(key) else {
            return .fatal(
                Refusal(id: event.id, code: "bad_signature", message: "signature does not verify with \(event.origin)'s trusted key"))
        }
        var verified = releaseRun(of: event.origin)
        verified.append(event)
        return .verified(verified)
    }

    /// Takes `origin`'s held run out, with its bytes.
    mutating func releaseRun(of origin: String) -> [Event] {
        guard let run = pending.removeValue(forKey: origin) else { return [] }
        pendingBytes[origin] = nil
        totalPendingBytes -= run.reduce(0) { $0 + $1.line.count + Self.bookkeepingBytesPerEvent }
        return run
    }

    /// What a bundle's lines came to: every line is in exactly one of these (or still held).
    public struct BundleOutput: Sendable {
        public var verified: [Event] = []
        public var refused: [Refusal] = []
        public var skipped: [Skip] = []
    }

    /// An event not checked because an earlier event of its origin was refused (`waitsOn`).
    public struct Skip: Sendable, Equatable {
        public var id: String
        public var waitsOn: String
    }

    /// Checks the lines of a bundle (a client's `ingest`, which may span several requests on one
    /// connection). Unlike `check`, a refusal ends nothing: the bad event is refused with the
    /// unsigned run waiting on it, the origin's later events are skipped (they cannot follow on
    /// without it), and other origins' events go on being checked.
    public mutating func checkBundle(_ lines: [[UInt8]]) -> BundleOutput {
        var out = BundleOutput()
        for (index, line) in lines.enumerated() {
            let event: Event
            do {
                event = try Event.parse(line: line)
            } catch {
                let message = "line \(index + 1) of the request is not an event line: \(error)"
                out.refused.append(Refusal(id: "?", code: "invalid_event", message: message))
                continue
            }
            if let b = blocked[event.origin] {
                if event.seq > b.seq {
                    out.skipped.append(Skip(id: event.id, waitsOn: b.id))
                    continue
                }
                // Sent again from at or before the refused event: a new attempt.
                blocked[event.origin] = nil
            }
            switch step(event) {
            case .held: continue
            case .verified(let events): out.verified += events
            case .refused(let refusal): out.refused.append(refusal)
            case .fatal(let refusal):
                out.refused.append(refusal)
                out.refused += dropRun(of: refusal)
                // Untrusted origins are not remembered: each of their events is refused on its
                // own, and a client cannot grow this table with made-up origins.
                if trust[event.origin] != nil { blocked[event.origin] = (refusal.id, event.seq) }
            }
        }
        return out
    }

    /// Marks `id` (of `origin`, at `seq`) refused after verification (the store turned it down):
    /// the origin's later events in this bundle are skipped, and so is its held run, returned.
    public mutating func refusedByStore(id: String, origin: String, seq: UInt64) -> [Skip] {
        if blocked[origin] == nil { blocked[origin] = (id, seq) }
        let waitsOn = blocked[origin]!.id
        return releaseRun(of: origin).map { Skip(id: $0.id, waitsOn: waitsOn) }
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
        _ = releaseRun(of: origin)
        return refusals
    }

    /// Ends the input: every run still unsigned is refused.
    public mutating func finish() -> [Refusal] {
        let refusals = pending.values.flatMap { $0 }.map {
            Refusal(id: $0.id, code: "unsigned", message: "no signed event ends this run of \($0.origin)")
        }
        pending = [:]
        pendingBytes = [:]
        totalPendingBytes = 0
        return refusals
    }
}

/// The checks of each line that need no other line: parsed, its hash recomputed, its signature
/// (when it has one and its origin a trusted key) verified. Long inputs are cut into one range
/// per thread, checked at once with `DispatchQueue.concurrentPerform`; `IngestVerifier.check` then
/// takes the results in order. A line past a fatal refusal is checked for nothing: the cost of
/// a forgery, not of a catch-up.
struct LineChecks {
    enum Line: Sendable {
        case invalid(EventParseError)
        case parsed(Event, hashIsValid: Bool, signatureIsValid: Bool?)
    }
    /// Below this many lines a range is not worth a thread.
    static let linesPerThread = 32
    let lines: [Line]

    init(_ input: [[UInt8]], trust: TrustList, threads: Int) {
        let ranges = max(1, min(threads, input.count / Self.linesPerThread))
        @Sendable func check(_ line: [UInt8]) -> Line {
            let event: Event
            do {
                event = try Event.parse(line: line)
            } catch {
                return .invalid(error)
            }
            let hashIsValid = event.hashIsValid
            // The signature only counts when the hash holds and the origin is trusted.
            let signatureIsValid = hashIsValid ? trust[event.origin].map { event.signatureIsValid(publicKey: $0) } : nil
            return .parsed(event, hashIsValid: hashIsValid, signatureIsValid: signatureIsValid)
        }
        guard ranges > 1 else {
            lines = input.map(check)
            return
        }
        var results = [Line?](repeating: nil, count: input.count)
        results.withUnsafeMutableBufferPointer { buffer in
            nonisolated(unsafe) let out = buffer
            DispatchQueue.concurrentPerform(iterations: ranges) { r in
                // Each range writes only its own slots.
                for i in (input.count * r / ranges)..<(input.count * (r + 1) / ranges) { out[i] = check(input[i]) }
            }
        }
        lines = results.map { $0! }
    }

    func step(_ index: Int, with verifier: inout IngestVerifier) -> IngestVerifier.Step {
        switch lines[index] {
        case .invalid(let error):
            return .fatal(IngestVerifier.Refusal(id: "?", code: "invalid_event", message: "not an event line: \(error)"))
        case .parsed(let event, let hashIsValid, let signatureIsValid):
            return verifier.step(event, hashIsValid: hashIsValid) { signatureIsValid ?? event.signatureIsValid(publicKey: $0) }
        }
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

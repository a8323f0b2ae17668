import EventStore
import IncidentModel
import Logging
import NIOCore
import Projections
import Sync
import Wire

/// Answers one request line of the client protocol with one response line.
///
/// A class: every connection's hot path takes it from its listener and captures it in an
/// append's completion, and a copy of a struct holding the node's config, logger and services
/// retained and released each of their references (3.6% of the event loops' samples at 50
/// clients); a reference is one retain.
final class RequestHandler: Sendable {
    let store: EventStore
    let validator: EventValidator
    let config: NodeConfig
    let publicKey: String
    let peers: PeerRegistry
    let trust: @Sendable () -> TrustList
    let projections: ProjectionService
    let logger: Logger
    /// Milliseconds since the epoch: "now" of the freshness ages (`IncidentNode.Options.wallClock`).
    let wallClock: @Sendable () -> UInt64
    /// Events sync holds ahead of their origin's chain: listed as provisional beside the views.
    let held: HeldEvents
    /// Counts every refusal this handler answers (`incidentlog_client_errors_total`).
    let errors: ClientErrors
    /// Called by a view query before its work outside the fold's lock (`TestHooks.outsideFoldLock`).
    let outsideFoldLock: (@Sendable () -> Void)?

    init(
        store: EventStore, validator: EventValidator, config: NodeConfig, publicKey: String, peers: PeerRegistry,
        trust: @escaping @Sendable () -> TrustList, projections: ProjectionService, logger: Logger,
        wallClock: @escaping @Sendable () -> UInt64, held: HeldEvents = HeldEvents(), errors: ClientErrors,
        outsideFoldLock: (@Sendable () -> Void)?
    ) {
        self.store = store
        self.validator = validator
        self.config = config
        self.publicKey = publicKey
        self.peers = peers
        self.trust = trust
        self.projections = projections
        self.logger = logger
        self.wallClock = wallClock
        self.held = held
        self.errors = errors
        self.outsideFoldLock = outsideFoldLock
    }

    /// What a connection carries from one request to the next.
    struct ConnectionState {
        /// Unsigned runs of a bundle may span several `ingest` requests.
        var verifier: IngestVerifier?
        /// Who the client is (`ClientAuthority.gate` sets it); the role check below reads it.
        var auth = ClientAuthState()
    }

    /// Lines up to this size are parsed where the connection's task runs (its event loop, see
    /// `EventLoopTaskExecutor`); longer ones, like queries and bundles, on the global executor.
    static let inlineLineLimit = 16 * 1024

    func handle(line: [UInt8], connection: inout ConnectionState, shuttingDown: Bool) async -> [UInt8] {
        if line.count > Self.inlineLineLimit {
            return await withTaskExecutorPreference(globalConcurrentExecutor) {
                await handleHere(line: line, connection: &connection, shuttingDown: shuttingDown)
            }
        }
        return await handleHere(line: line, connection: &connection, shuttingDown: shuttingDown)
    }

    func handleHere(line: [UInt8], connection: inout ConnectionState, shuttingDown: Bool) async -> [UInt8] {
        let request: ClientRequest
        do {
            request = try line.withUnsafeBufferPointer { buffer throws(WireError) in try parse(buffer) }
        } catch {
            return errors.refusal(error)
        }
        return await respond(to: request, connection: &connection, shuttingDown: shuttingDown)
    }

    /// A line longer than `inlineLineLimit` is parsed off the event loop, so a long append may
    /// use every core (`ClientRequest.parallelAppendEvents`).
    func parse(_ line: UnsafeBufferPointer<UInt8>) throws(WireError) -> ClientRequest {
        try ClientRequest.parse(
            line: line, validator: validator, maximumEvents: config.maximumEventsPerAppend,
            threads: line.count > Self.inlineLineLimit ? System.coreCount : 1)
    }

    /// The append fast path's verdict on a parsed request: its events to submit to the store
    /// straight from the event loop, or an answer at once (a refusal), or nil: not an append, or
    /// one whose checks need to wait (an office's, judged by the incidents it names), which goes
    /// through `respond`.
    enum Immediate {
        case submit([PendingEvent])
        case answer([UInt8])
        /// A view copied from the published views, written straight into the channel's buffer.
        case view(ViewAnswer)
    }

    /// What can be answered or submitted on the event loop without a task: an append (not an
    /// office's, which is checked against the incidents it names), and, when no answer is
    /// pending on the connection (`idle`), a sector view or the overview over all days, copied
    /// from the published views.
    func immediate(_ request: ClientRequest, connection: ConnectionState, shuttingDown: Bool, idle: Bool) -> Immediate? {
        switch request {
        case .sector, .overview:
            guard idle else { return nil }
            if let refusal = connection.auth.refusal(for: request) { return .answer(errors.refusal(refusal)) }
            do {
                return try publishedAnswer(request).map(Immediate.view)
            } catch {
                return .answer(refusal(for: error))
            }
        case .append:
            break
        default:
            return nil
        }
        guard case .append(let events) = request else { return nil }
        if let refusal = connection.auth.refusal(for: request) { return .answer(errors.refusal(refusal)) }
        if connection.auth.principal?.role == .office { return nil }
        if shuttingDown { return .answer(errors.refusal(WireError(.shuttingDown, "the node is shutting down; retry later"))) }
        return .submit(events.map(PendingEvent.init))
    }

    /// The answer to a store submission's outcome.
    func appendAnswer(_ result: Result<[Appended], StoreError>) -> [UInt8] {
        switch result {
        case .success(let appended):
            guard !appended.isEmpty else { return errors.refusal(WireError(.internalError, "unexpected failure")) }
            return Self.appendedAnswer(appended)
        case .failure(let error):
            return errors.refusal(Self.wireError(error))
        }
    }

    /// The answer to a stored append (at least one event). Its events are this node's, one
    /// after the other, so the ids are written from their seqs.
    static func appendedAnswer(_ appended: [Appended]) -> [UInt8] {
        let first = appended[0]
        guard appended.allSatisfy({ $0.origin == first.origin }) else {
            return ClientResponse.appended(ids: appended.map(\.id), firstOffset: first.offset)
        }
        return ClientResponse.appended(origin: first.origin, seqs: appended.map(\.seq), firstOffset: first.offset)
    }

    /// Answers a parsed request (the role check included).
    func respond(to request: ClientRequest, connection: inout ConnectionState, shuttingDown: Bool) async -> [UInt8] {
        if let refusal = connection.auth.refusal(for: request) { return errors.refusal(refusal) }  // the token's role and sectors
        if case .append(let events) = request, let principal = connection.auth.principal, principal.role == .office,
            let refusal = await incidentRefusal(events, principal: principal)
        {
            return errors.refusal(refusal)
        }
        do {
            switch request {
            case .append(let events):
                if shuttingDown { return errors.refusal(WireError(.shuttingDown, "the node is shutting down; retry later")) }
                let appended = try await store.append(events.map(PendingEvent.init))
                return Self.appendedAnswer(appended)
            case .get(let id):
                guard let event = try store.event(id: id) else {
                    return errors.refusal(WireError(.notFound, "no event \(id)"))
                }
                return ClientResponse.event(line: event.line)
            case .read(let from, let limit, let beyond, let waitMillis):
                if waitMillis > 0, store.count <= from { await waitForEvents(after: from, millis: waitMillis) }
                return try read(from: from, limit: limit, beyond: beyond)
            case .ingest(let lines):
                if shuttingDown { return errors.refusal(WireError(.shuttingDown, "the node is shutting down; retry later")) }
                return try await withTaskExecutorPreference(globalConcurrentExecutor) {
                    try await ingest(lines, connection: &connection)
                }
            case .status:
                return status()
            case .sector, .overview, .incident, .incidents:
                // Views over all days are copies of published bytes: answered here, on the event loop.
                if let answer = try publishedAnswer(request) { return answer.bytes }
                return try await withTaskExecutorPreference(globalConcurrentExecutor) { try query(request) }
            }
        } catch {
            return refusal(for: error)
        }
    }

    /// The refusal answering a request that failed with `error`, with its stable code.
    func refusal(for error: any Error) -> [UInt8] {
        switch error {
        case let error as WireError: return errors.refusal(error)
        case let error as ProjectionQueryError: return errors.refusal(WireError(.invalidQuery, error.description))
        case let error as StoreError: return errors.refusal(Self.wireError(error))
        default: return errors.refusal(WireError(.internalError, "unexpected failure"))
        }
    }

    /// Why an office may not append `events`, judged by the incidents they name, or nil when it
    /// may. The role check above only sees each envelope's `sector`; an event naming an incident
    /// (`data.incident_id`: updated, verified, closed, retracted, casualties, a medevac for it)
    /// acts on that incident wherever it was reported, so it is checked against the sector the
    /// node's projections place the incident in (its creating report's). An incident no report of
    /// which is folded is `unknown_incident` (docs/SECURITY.md says why), except one reported
    /// earlier in the same append. One refused event refuses the whole append.
    func incidentRefusal(_ events: [NewEvent], principal: ClientPrincipal) async -> WireError? {
        var reportedHere: [String: String] = [:]
        var caughtUp = false
        for (i, e) in events.enumerated() {
            guard let id = e.dataString("incident_id") else { continue }
            var sector = projections.query { $0.incidentSector(id: id) } ?? reportedHere[id]
            if sector == nil, !caughtUp {
                // The fold trails the log by a moment: a report this node stored just before
                // (an append a moment ago) must count as known.
                _ = await projections.waitFolded(upTo: store.count, within: .seconds(2))
                caughtUp = true
                sector = projections.query { $0.incidentSector(id: id) }
            }
            let place = events.count == 1 ? "data.incident_id" : "events[\(i)].data.incident_id"
            if let sector {
                guard principal.sectors.contains(sector) else {
                    return WireError(
                        .forbidden,
                        "\(place): incident \(id) is in sector \(sector); token \(principal.name) (office) may act only in \(principal.sectors.sorted().joined(separator: ", "))")
                }
            } else if e.type == .incidentReported {
                reportedHere[id] = e.sector  // a new incident: the role check allowed its sector
            } else {
                return WireError(
                    .unknownIncident,
                    "\(place): incident \(id) is not known to this node (no report of it has arrived); nothing was written, retry once it has synced")
            }
        }
        return nil
    }

    /// Lines from `from`; with `beyond`, only events that vector lacks, scanning at most
    /// 16 × limit events per request (`next` says where to go on).
    func read(from: UInt64, limit: Int, beyond: VersionVector?) throws -> [UInt8] {
        guard let beyond else {
            let (lines, next) = try readLines(from: from, limit: limit)
            return ClientResponse.events(lines: lines, next: next)
        }
        var start = max(from, store.count)
        let ours = store.versionVector
        for origin in ours.origins where ours[origin] > beyond[origin] {
            if let offset = store.offset(origin: origin, seq: beyond[origin] + 1) { start = min(start, offset) }
        }
        start = max(start, from)
        var out: [[UInt8]] = []
        var next = start
        let budget = start + UInt64(limit) * 16
        var bytes = 0  // a response stops early at max_pending_output_bytes
        reading: while out.count < limit, bytes < config.limits.maximumPendingOutputBytes, next < budget {
            let run = try store.readLineRun(from: next, limit: min(limit, 1000))
            if run.next == next { break }
            for (line, offset) in zip(run.lines, run.offsets) {
                next = offset + 1
                guard let head = EventHead(line: line) else { throw StoreError(.corrupt, "stored line at offset \(offset) has no origin and seq") }
                if head.seq > beyond[head.origin] {
                    out.append(line)
                    bytes += line.count + 1
                }
                if out.count == limit || bytes >= config.limits.maximumPendingOutputBytes { break reading }
            }
            next = run.next
        }
        return ClientResponse.events(lines: out, next: next)
    }

    func waitForEvents(after offset: UInt64, millis: Int) async {
        let subscription = store.subscribe(from: offset, batchLimit: 1)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var iterator = subscription.makeAsyncIterator()
                _ = try? await iterator.next()
            }
            // Not a loop: the timer of the long poll; cancelled, it just ends (the group is done).
            group.addTask { try? await Task.sleep(for: .milliseconds(millis)) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Most a connection's `ingest` holds of unsigned events waiting for their run's signed
    /// event, across origins (each counted as its line plus `IngestVerifier.bookkeepingBytesPerEvent`).
    /// An origin signs at least every 64th event, so a bundle's runs are far shorter; past it the
    /// event is refused `unsigned_run_too_long` with the run before it.
    static let maximumPendingIngestBytes = 4 << 20

    /// Applies a bundle's lines. Every line is accounted for in the answer: new, duplicate,
    /// refused (with its code), skipped (`waits_on` an earlier refused event of its origin), or
    /// pending (unsigned, held on this connection for its run's signed event).
    func ingest(_ lines: [[UInt8]], connection: inout ConnectionState) async throws -> [UInt8] {
        var verifier =
            connection.verifier
            ?? IngestVerifier(trust: trust(), maximumPendingBytes: Self.maximumPendingIngestBytes, maximumTotalPendingBytes: Self.maximumPendingIngestBytes)
        verifier.trust = trust()
        // A bundle is not a session: a refusal refuses the bad event and what waits on it, skips
        // its origin's later events, and the other origins go on.
        let checked = verifier.checkBundle(lines)
        var refused = checked.refused.map { (id: $0.id, code: $0.code, message: $0.message) }
        var skipped = checked.skipped.map { (id: $0.id, waitsOn: $0.waitsOn) }
        var new = 0
        var duplicate = 0
        if !checked.verified.isEmpty {
            let outcomes: [IngestOutcome]
            do {
                outcomes = try await store.ingest(checked.verified)
            } catch {
                connection.verifier = verifier
                throw error
            }
            var firstRefused: [String: String] = [:]  // origin → the event the store refused first
            for (event, outcome) in zip(checked.verified, outcomes) {
                switch outcome {
                case .stored: new += 1
                case .duplicate: duplicate += 1
                case .refused(let code, let message):
                    if let first = firstRefused[event.origin] {
                        skipped.append((event.id, first))
                    } else {
                        firstRefused[event.origin] = event.id
                        refused.append((event.id, code.rawValue, message))
                        skipped += verifier.refusedByStore(id: event.id, origin: event.origin, seq: event.seq).map { ($0.id, $0.waitsOn) }
                    }
                }
            }
        }
        connection.verifier = verifier
        if new > 0 { logger.info("ingested events from a bundle", metadata: ["sync.new": "\(new)", "sync.duplicate": "\(duplicate)"]) }
        return ClientResponse.ingested(new: new, duplicate: duplicate, refused: refused, skipped: skipped, pending: verifier.pendingCount)
    }

    /// Answers a sector view or the overview over all days from the views the fold published
    /// after its last whole batch, without the fold's lock; nil for any other query.
    func publishedAnswer(_ request: ClientRequest) throws -> ViewAnswer? {
        switch request {
        case .sector(let name, let since, let until):
            guard try DayRange(since: since, until: until) == .all else { return nil }
            let views = projections.views
            guard let view = views.sectorView(name) else { throw Self.unknownSector(name, views.listedSectors) }
            let now = Int64(wallClock())
            return ViewAnswer(view: view, freshness: views.freshnessAges(nowMillis: now), provisional: provisional(sector: name))
        case .overview(let since, let until):
            guard try DayRange(since: since, until: until) == .all else { return nil }
            let views = projections.views
            let now = Int64(wallClock())
            return ViewAnswer(view: views.overview(), freshness: views.freshnessAges(nowMillis: now), provisional: provisional(sector: nil))
        default:
            return nil
        }
    }

    static func unknownSector(_ name: String, _ known: [String]) -> WireError {
        WireError(.notFound, "no sector \(name) (known: \(known.joined(separator: ", ")))")
    }

    /// Answers a view query from the folded state: what the state decides is taken under the
    /// fold's lock, and the rest is done after it is released (a page of the incidents list and
    /// the incident view read the log, `IncidentPage`; a view over a range of days adds its days
    /// up, `RangeView`). Ages are worked out now, beside the view.
    func query(_ request: ClientRequest) throws -> [UInt8] {
        let now = Int64(wallClock())
        let store = self.store
        // The views show values read back from stored events: their data was checked when stored.
        let hook = outsideFoldLock
        let lookup: EventLookup = { id in
            hook?()
            return try? store.event(id: id, checkingData: false)
        }
        if case .incidents(let f) = request {
            let page = try projections.query { p throws -> IncidentPage in
                // An unknown sector is an error, as for `sector`, not an empty page that reads as "no incidents there".
                if let sector = f.sector, !p.listedSectors.contains(sector) { throw Self.unknownSector(sector, p.listedSectors) }
                let q = IncidentQuery(
                    sector: f.sector, category: f.category, status: f.status, verification: f.verification,
                    range: try DayRange(since: f.since, until: f.until), limit: f.limit, cursor: f.cursor)
                return try p.incidentsPage(q)
            }
            return ClientResponse.view(page.render(lookup: lookup), freshness: nil)
        }
        if case .incident(let id) = request {
            guard let page = projections.query({ $0.incidentViewPage(id: id) }) else { throw WireError(.notFound, "no incident \(id)") }
            return ClientResponse.view(page.render(lookup: lookup), freshness: nil)
        }
        let (view, ages) = try projections.query { p throws -> (RangeView, [UInt8]) in
            switch request {
            case .sector(let name, let since, let until):
                guard let view = p.sectorViewParts(name, range: try DayRange(since: since, until: until)) else {
                    throw Self.unknownSector(name, p.listedSectors)
                }
                return (view, p.freshnessAges(nowMillis: now))
            case .overview(let since, let until):
                return (p.overviewParts(range: try DayRange(since: since, until: until)), p.freshnessAges(nowMillis: now))
            default:
                throw WireError(.internalError, "not a query")
            }
        }
        let sector: String? = if case .sector(let name, _, _) = request { name } else { nil }
        return ClientResponse.view(view.render(beforeSum: { hook?() }), freshness: ages, provisional: provisional(sector: sector))
    }

    /// The held events of `sector` (all of them for nil) as a JSON array, nil when there are none:
    /// events HQ sees before the chain behind them has arrived, never folded into the view's
    /// counts. Ordered by id, so identical nodes answer identical bytes.
    func provisional(sector: String?) -> [UInt8]? {
        let events = held.events.filter { sector == nil || $0.sector == sector }
        guard !events.isEmpty else { return nil }
        let vector = store.versionVector
        var w = JSONWriter()
        w.raw("[")
        for (i, e) in events.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.raw("{\"id\":")
            w.string(e.id)
            w.raw(",\"type\":")
            w.string(e.type)
            w.raw(",\"sector\":")
            w.string(e.sector)
            w.raw(",\"recorded_at\":")
            w.string(e.recordedAt)
            w.raw(",\"waiting_for\":")
            w.string("\(e.origin):\(vector[e.origin] + 1)")
            w.raw(",\"data\":")
            w.raw(e.dataBytes)
            w.raw("}")
        }
        w.raw("]")
        return w.bytes
    }

    /// Seconds since the oldest event recorded that the peer lacks was recorded (nil: none lacked).
    func oldestLackedAge(_ peerVector: VersionVector, ours: VersionVector, nowMillis: Int64) -> Int64? {
        var oldest: Int64? = nil
        for origin in ours.origins where ours[origin] > peerVector[origin] {
            guard let offset = store.offset(origin: origin, seq: peerVector[origin] + 1),
                let event = try? store.read(from: offset, limit: 1).first,
                let millis = RFC3339.parseMillis(event.recordedAt)
            else { continue }
            oldest = min(oldest ?? millis, millis)
        }
        return oldest.map { max(0, (nowMillis - $0) / 1000) }
    }

    func status() -> [UInt8] {
        let ours = store.versionVector
        var s = ClientResponse.Status(
            node: store.nodeID, publicKey: publicKey, events: store.count, vector: ours, dataBytes: store.dataBytes,
            segments: store.segmentCount, storeFailed: store.failure?.message)
        s.forks = store.forkCount
        let damage = store.damage
        if !damage.isEmpty { s.damage = damage }
        let c = projections.counters
        s.projections = (c.cursor, c.foldedSinceStart, c.fromSnapshot)
        let q = projections.quarantine
        s.quarantined = q.count
        s.quarantinedFirst = q.first.map { ($0.id, $0.reason) }
        let now = Int64(wallClock())
        s.peers = peers.snapshot.map { e in
            var p = ClientResponse.Peer(
                key: e.key, node: e.node, address: e.address, direction: e.direction, connected: e.connected,
                sinceMillis: e.sinceMillis, lastContactMillis: e.lastContactMillis, eventsSent: e.eventsSent,
                eventsReceived: e.eventsReceived, peerLacks: ours.lacking(in: e.peerVector), weLack: e.peerVector.lacking(in: ours),
                lastError: e.lastError)
            p.link = e.link
            p.link.oldestLackedAgeSeconds = oldestLackedAge(e.peerVector, ours: ours, nowMillis: now)
            return p
        }
        s.held = held.events.map(\.id)
        s.trust = trust().base64Keys
        return ClientResponse.status(s)
    }

    static func wireError(_ e: StoreError) -> WireError {
        switch e.code {
        case .diskFull: return WireError(.diskFull, e.message)
        case .storeFailed: return WireError(.storeFailed, e.message)
        case .closed: return WireError(.shuttingDown, e.message)
        default: return WireError(.internalError, e.message)
        }
    }
}

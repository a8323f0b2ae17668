import EventStore
import Foundation
import IncidentModel
import Logging
import Synchronization
import Testing

/// One test's data directory (a fresh directory under /tmp), the node's identity in it, and a
/// way to open the store there as often as the test needs.
struct StoreHarness {
    static let nodeID = "gao"

    let directory: String
    let identity: NodeIdentity
    let logs = LogCapture()
    var options: StoreOptions

    /// - Parameter identity: the node's key; by default a new one in `node.key` of the directory.
    init(options: StoreOptions = StoreOptions(), identity: NodeIdentity? = nil) throws {
        var template = Array("/tmp/incidentlog-store-test-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        directory = String(cString: p)
        self.identity = try identity ?? NodeIdentity.loadOrCreate(directory: directory)
        self.options = options
    }

    /// Runs `body` with a harness whose directory is removed afterwards, whatever happens.
    static func with<T>(
        options: StoreOptions = StoreOptions(), identity: NodeIdentity? = nil, _ body: (inout StoreHarness) async throws -> T
    ) async throws -> T {
        var harness = try StoreHarness(options: options, identity: identity)
        defer { try? FileManager.default.removeItem(atPath: harness.directory) }
        return try await body(&harness)
    }

    func open() throws(StoreError) -> EventStore {
        try EventStore(directory: directory, nodeID: Self.nodeID, identity: identity, options: options, logger: logs.logger)
    }

    /// Opening is expected to fail: the error it fails with.
    func openError() -> StoreError? {
        do {
            let store = try open()
            Issue.record("the store opened with \(store.count) events")
            return nil
        } catch {
            return error
        }
    }

    var segmentsDirectory: String { directory + "/segments" }

    /// Names of the segment files, in offset order.
    func segmentNames() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: segmentsDirectory)) ?? []
        return names.filter { $0.hasSuffix(".jsonl") }.sorted()
    }

    /// Every file in the segments directory, sorted.
    func segmentDirectoryListing() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: segmentsDirectory)) ?? []).sorted()
    }

    func bytes(ofSegment name: String) -> [UInt8] {
        FileManager.default.contents(atPath: segmentsDirectory + "/" + name).map(Array.init) ?? []
    }

    func write(_ bytes: [UInt8], toSegment name: String) {
        let written = FileManager.default.createFile(atPath: segmentsDirectory + "/" + name, contents: Data(bytes))
        precondition(written, "cannot write \(name)")
    }

    func fileSize(ofSegment name: String) -> Int {
        bytes(ofSegment: name).count
    }
}

/// A client event for the store (the store does not validate payloads; the validator has).
func pending(_ n: Int, sector: String = "east", note: String = "") -> PendingEvent {
    PendingEvent(
        type: "incident.closed", sector: sector,
        data: Array(#"{"incident_id":"i-\#(n)","reason":"test \#(n)\#(note)"}"#.utf8))
}

/// Events of another office as sync would store them: a chain of `origin` from `first`, after
/// `prev`. `reason` varies the payload, so that two chains of one origin differ (forks).
func replicatedChain(_ origin: String, from first: UInt64, count: Int, after prev: EventHash?, reason: String = "relayed") -> [Event] {
    var out: [Event] = []
    var prev = prev
    for k in 0..<count {
        let seq = first + UInt64(k)
        let e = Event.encode(
            Event.Draft(
                origin: origin, seq: seq, prev: prev, hlc: HLCTimestamp(wallMillis: 3_000_000_000_000 + seq, counter: 0),
                recordedAtMillis: 1_796_000_000_000, type: "incident.closed", sector: "north",
                data: Array(#"{"incident_id":"\#(origin)-\#(seq)","reason":"\#(reason)"}"#.utf8)),
            signer: nil)
        prev = e.hash
        out.append(e)
    }
    return out
}

/// The store's answer to an append that is expected to fail.
func appendError(_ store: EventStore, _ events: [PendingEvent]) async -> StoreError? {
    do {
        let appended = try await store.append(events)
        Issue.record("append succeeded: \(appended.map(\.id))")
        return nil
    } catch {
        return error
    }
}

/// The refusal of an append that a closing or closed store must refuse at once: answered before
/// `submitAppend` returns, on the caller's thread, not queued to a writer that is blocked or
/// gone. Nil (with an issue recorded) when the append was not answered at once, or succeeded.
/// Synchronous, so that it does not wait on a task the test process's busy pool may start late.
func immediateAppendError(_ store: EventStore, _ events: [PendingEvent]) -> StoreError? {
    let result = Shared<Result<[Appended], StoreError>?>(nil)
    store.submitAppend(events, commitHere: false) { result.current = $0 }
    switch result.current {
    case .failure(let error)?: return error
    case .success(let appended)?:
        Issue.record("append succeeded: \(appended.map(\.id))")
        return nil
    case nil:
        Issue.record("the append was not answered at once")
        return nil
    }
}

/// Byte positions of each line in a segment's bytes (and the line without its newline).
func lines(of bytes: [UInt8]) -> [(start: Int, line: [UInt8])] {
    // memchr, not a loop over the elements: test modules are built without optimization, and
    // the generic loop took seconds over a segment of a few megabytes (ParallelRecoveryTests).
    bytes.withUnsafeBufferPointer { buffer in
        var result: [(start: Int, line: [UInt8])] = []
        guard let base = buffer.baseAddress else { return result }
        var start = 0
        while start < buffer.count, let found = memchr(base + start, Int32(UInt8(ascii: "\n")), buffer.count - start) {
            let end = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
            result.append((start, Array(UnsafeBufferPointer(rebasing: buffer[start..<end]))))
            start = end + 1
        }
        return result
    }
}

/// The position of the first occurrence of `pattern` in `bytes`.
func position(of pattern: String, in bytes: [UInt8]) -> Int? {
    let p = Array(pattern.utf8)
    guard p.count <= bytes.count else { return nil }
    // Foundation's search, for the reason `lines(of:)` gives.
    return Data(bytes).range(of: Data(p))?.lowerBound
}

/// Checks that `events` are the log of one origin from seq 1: consecutive seqs, each `prev` the
/// hash of the event before it, every hash valid; returns a description of the first break.
func chainBreak(_ events: [Event]) -> String? {
    var previous: Event? = nil
    for (i, e) in events.enumerated() {
        guard e.seq == UInt64(i + 1) else { return "event \(i) has seq \(e.seq)" }
        guard e.id == "\(StoreHarness.nodeID):\(i + 1)" else { return "event \(i) has id \(e.id)" }
        guard e.prev == previous?.hash else { return "\(e.id) prev \(String(describing: e.prev)) is not the hash of the event before" }
        guard e.hashIsValid else { return "\(e.id) hash does not match its bytes" }
        previous = e
    }
    return nil
}

/// A value a test changes while the store's injected hooks read it.
final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>

    init(_ value: Value) {
        self.value = Mutex(value)
    }

    var current: Value {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }

    func update<R>(_ body: (inout Value) -> R) -> R {
        value.withLock { body(&$0) }
    }
}

/// Waits (politely, without blocking a thread of the cooperative pool) until `condition` holds.
func eventually(_ what: String, timeout: Duration = .seconds(10), _ condition: () -> Bool) async {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("timed out waiting until \(what)")
            return
        }
        try? await Task.sleep(for: .milliseconds(1))
    }
}

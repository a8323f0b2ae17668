import IncidentClient
import IncidentModel
import IncidentTestSupport
import Synchronization
import Wire

/// Small helpers the integration tests share.
enum Fixtures {
    /// A valid incident.reported object with a unique incident_id.
    static func incident(_ id: String, sector: String = "east") -> [UInt8] {
        Array(
            """
            {"type":"incident.reported","sector":"\(sector)","data":{"incident_id":"\(id)","category":"ied","summary":"IED on RN16 south of Gao","occurred_at":"2026-11-28T06:40:00Z","location":{"name":"RN16 km 12","lat":16.17,"lon":-0.02}}}
            """.utf8)
    }

    /// Every stored line of the node, exactly, via `read`.
    static func export(_ node: HostPort) async throws -> [[UInt8]] {
        try await IncidentConnection.withConnection(to: node) { try await $0.storedLines() }
    }

    /// Checks every line: parses, hash matches its bytes, each origin's chain is gapless and linked.
    static func verifyChains(_ lines: [[UInt8]]) throws -> [Event] {
        var chains: [String: (UInt64, EventHash)] = [:]
        var events: [Event] = []
        for line in lines {
            let e = try Event.parse(line: line)
            guard e.hashIsValid else { throw Problem("hash mismatch at \(e.id)") }
            let held = chains[e.origin]
            guard e.seq == (held?.0 ?? 0) + 1, e.prev == held?.1 else { throw Problem("chain broken at \(e.id)") }
            chains[e.origin] = (e.seq, e.hash)
            events.append(e)
        }
        return events
    }

    struct Problem: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}

/// A value shared between test tasks (Mutex itself cannot be captured by escaping closures).
final class Shared<Value: Sendable>: Sendable {
    let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

import IncidentClient
import Wire

/// Waits (up to 10 minutes) until the node at `endpoint` has folded every event it holds
/// (`status.projections.folded` reaches `status.events`); returns both. A benchmark calls it
/// before its clock starts, so that the fold of what it put there before does not run in the
/// measured seconds (`bench query` after its pre-fill, `bench sync` on its source).
func waitFolded(_ endpoint: IncidentEndpoint) async throws -> (events: Int, folded: Int) {
    try await IncidentConnection.withConnection(to: endpoint) { connection in
        let deadline = MonotonicClock.now() + 600_000_000_000
        while true {
            let status = try await connection.request(Requests.status)
            let events = Int(status["events"]?.integerValue ?? 0)
            // A node without projections reports none: nothing to wait for.
            guard let folded = status["projections"]?["folded"]?.integerValue.map(Int.init) else { return (events, 0) }
            if folded >= events { return (events, folded) }
            guard MonotonicClock.now() < deadline else {
                throw BenchmarkError("the node folded \(folded) of \(events) events in 10 minutes")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

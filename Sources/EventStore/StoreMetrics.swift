import Metrics

/// What the store records through swift-metrics (docs/OPERATIONS.md, "Metrics"). Without a
/// metrics backend bootstrapped (tests, tools) these are no-ops.
///
/// - `incidentlog_append_duration_seconds` (histogram): a local append from the call to its
///   acknowledgement: queueing, the group commit's write and `fdatasync`, publishing.
/// - `incidentlog_fsync_duration_seconds` (histogram): each `fdatasync` of a commit.
/// - `incidentlog_events_stored_total{origin}` (counter): events stored, own and replicated.
struct StoreMetrics: Sendable {
    let append = Metrics.Timer(label: "incidentlog_append_duration_seconds")
    let fsync = Metrics.Timer(label: "incidentlog_fsync_duration_seconds")

    /// The counter of one origin's stored events; the writer keeps one per origin it has seen.
    static func stored(origin: String) -> Counter {
        Counter(label: "incidentlog_events_stored_total", dimensions: [("origin", origin)])
    }
}

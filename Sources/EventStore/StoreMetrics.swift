import Metrics

/// What the store records through swift-metrics (docs/OPERATIONS.md, "Metrics"), made with the
/// factory of its options (`StoreOptions.metricsFactory`): the process-wide one by default, a
/// node's own registry for a node run inside a test's process. Without a metrics backend
/// bootstrapped (tests, tools) the process-wide ones are no-ops.
///
/// - `incidentlog_append_duration_seconds` (histogram): a local append from the call to its
///   acknowledgement: queueing, the group commit's write and `fdatasync`, publishing.
/// - `incidentlog_fsync_duration_seconds` (histogram): each `fdatasync` of a commit.
/// - `incidentlog_events_stored_total{origin}` (counter): events stored, own and replicated.
struct StoreMetrics: Sendable {
    let factory: any MetricsFactory
    let append: Metrics.Timer
    let fsync: Metrics.Timer

    init(factory: any MetricsFactory) {
        self.factory = factory
        append = Metrics.Timer(label: "incidentlog_append_duration_seconds", factory: factory)
        fsync = Metrics.Timer(label: "incidentlog_fsync_duration_seconds", factory: factory)
    }

    /// The counter of one origin's stored events; the writer keeps one per origin it has seen.
    func stored(origin: String) -> Counter {
        Counter(label: "incidentlog_events_stored_total", dimensions: [("origin", origin)], factory: factory)
    }
}

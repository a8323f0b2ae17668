public import CoreMetrics
public import IncidentServer
import Metrics
public import Prometheus
import Synchronization

/// The node's metrics in the Prometheus text format (`GET /metrics`; every metric is in
/// docs/OPERATIONS.md, "Metrics").
///
/// Two kinds, both through swift-metrics into the node's swift-prometheus registry, made with
/// `factory`, which writes into it:
/// - recorded where they happen: append and fsync durations and events stored per origin
///   (EventStore), errors answered to clients by code (IncidentServer). These are made with the
///   node's `IncidentNode.Options.metricsFactory`: in incidentd the process-wide factory, which
///   `bootstrap` sets to `factory` once, before the node is built; in a node run inside a test's
///   process `factory` itself (`standalone`), so that each node's `/metrics` holds its own
///   figures, however many nodes the process runs;
/// - read from the node's state when `/metrics` is fetched (`update`): peers, freshness per
///   origin, projection lag, connections. Counters of that kind (a peer's bytes) are advanced by
///   what the node's own totals grew since the last read.
///
/// Each name has its help text and, for histograms, buckets here (`catalog`): the factory
/// hands them to the registry, which writes `# HELP` lines that `promtool check metrics` wants.
public final class NodeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory that writes into `registry` (`Factory`).
    public let factory: any MetricsFactory
    /// The last totals seen per peer series, for the counters advanced at read time.
    let lastTotals = Mutex<[String: UInt64]>([:])
    /// The label sets of the series set at read time last time: a series that is gone (a peer
    /// removed by a reload, an origin) is dropped rather than kept at its last value.
    let lastSeries = Mutex<Set<String>>([])

    public struct Entry: Sendable {
        public var help: String
        public var buckets: [Duration]?
    }

    static let durationBuckets: [Duration] = [
        .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
        .seconds(10),
    ]

    /// Every metric the node exports, by name.
    public static let catalog: [String: Entry] = [
        "incidentlog_append_duration_seconds": Entry(
            help: "Local appends from the request to the acknowledgement (queue, write, fdatasync, publish).", buckets: durationBuckets),
        "incidentlog_fsync_duration_seconds": Entry(help: "Each fdatasync of a group commit.", buckets: durationBuckets),
        "incidentlog_events_stored_total": Entry(help: "Events stored in the log since start, by origin (own and replicated)."),
        "incidentlog_client_errors_total": Entry(help: "Errors answered to clients (line protocol and HTTP), by stable code."),
        "incidentlog_log_events": Entry(help: "Events held in the local log."),
        "incidentlog_projection_lag_events": Entry(help: "Events held in the log but not yet folded into the views."),
        "incidentlog_quarantined_events": Entry(
            help: "Stored events kept out of the views because they fail the append checks (a peer's signed events)."),
        "incidentlog_origin_freshness_age_seconds": Entry(
            help: "Seconds since the newest event held from each origin office was recorded there."),
        "incidentlog_peer_connected": Entry(help: "1 while a replication session with the peer is established, else 0."),
        "incidentlog_peer_lag_events": Entry(help: "Events this node holds that the peer lacks, as far as this node knows."),
        "incidentlog_peer_lag_seconds": Entry(help: "Age of the oldest event the peer lacks (0 when it lacks none)."),
        "incidentlog_peer_sent_bytes_total": Entry(help: "Bytes sent to the peer on the wire, over every session."),
        "incidentlog_peer_received_bytes_total": Entry(help: "Bytes received from the peer on the wire, over every session."),
        "incidentlog_client_connections": Entry(help: "Open client connections, by listener (line, http)."),
    ]

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        factory = Factory(registry: registry)
    }

    /// Makes the registry and bootstraps swift-metrics with its factory; once per process
    /// (incidentd's main), before the node is built, whose metrics then come from
    /// `MetricsSystem.factory`.
    public static func bootstrap() -> NodeMetrics {
        let metrics = NodeMetrics(registry: PrometheusCollectorRegistry())
        MetricsSystem.bootstrap(metrics.factory)
        return metrics
    }

    /// Metrics with a registry of their own, swift-metrics left as it is: for a node run inside a
    /// test's process, where the process-wide bootstrap can happen only once and would mix the
    /// figures of every node in the process. The node is built with `factory`
    /// (`IncidentNode.Options.metricsFactory`), so what it records goes into this registry, and
    /// its `/metrics` holds its own figures as incidentd's does.
    public static func standalone() -> NodeMetrics {
        NodeMetrics(registry: PrometheusCollectorRegistry())
    }

    /// Sets the metrics read from the node's state; then `emit` writes them all.
    public func update(from state: NodeAPI.State, httpConnections: Int) {
        var series = Set<String>()
        func gauge(_ name: String, _ labels: [(String, String)], _ value: Double) {
            series.insert(name + labels.map { "|\($0.0)=\($0.1)" }.joined())
            Gauge(label: name, dimensions: labels, factory: factory).record(value)
        }
        func total(_ name: String, _ labels: [(String, String)], _ value: UInt64) {
            let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
            let last = lastTotals.withLock { totals -> UInt64 in
                defer { totals[key] = value }
                return totals[key] ?? 0
            }
            // A total below the last one started again (the peer's entry was replaced): count it whole.
            let step = value >= last ? value - last : value
            let counter = Counter(label: name, dimensions: labels, factory: factory)
            if step > 0 { counter.increment(by: Int64(clamping: step)) } else { counter.increment(by: 0) }
        }
        gauge("incidentlog_log_events", [], Double(state.events))
        gauge("incidentlog_projection_lag_events", [], Double(state.events > state.folded ? state.events - state.folded : 0))
        gauge("incidentlog_quarantined_events", [], Double(state.quarantined))
        gauge("incidentlog_client_connections", [("listener", "line")], Double(state.lineConnections))
        gauge("incidentlog_client_connections", [("listener", "http")], Double(httpConnections))
        for (origin, seconds) in state.freshness {
            gauge("incidentlog_origin_freshness_age_seconds", [("origin", origin)], Double(seconds))
        }
        for p in state.peers {
            let labels = [("peer", p.name), ("direction", p.direction)]
            gauge("incidentlog_peer_connected", labels, p.connected ? 1 : 0)
            gauge("incidentlog_peer_lag_events", labels, Double(p.lagEvents))
            gauge("incidentlog_peer_lag_seconds", labels, Double(p.lagSeconds))
            total("incidentlog_peer_sent_bytes_total", labels, p.bytesSent)
            total("incidentlog_peer_received_bytes_total", labels, p.bytesReceived)
        }
        let gone = lastSeries.withLock { last -> Set<String> in
            defer { last = series }
            return last.subtracting(series)
        }
        for key in gone {
            let parts = key.split(separator: "|").map(String.init)
            let labels = parts.dropFirst().map { part -> (String, String) in
                let eq = part.firstIndex(of: "=")!
                return (String(part[..<eq]), String(part[part.index(after: eq)...]))
            }
            Gauge(label: parts[0], dimensions: labels, factory: factory).destroy()
        }
    }

    /// The text format, every metric.
    public func emit() -> [UInt8] {
        var out: [UInt8] = []
        registry.emit(into: &out)
        return out
    }

    /// The swift-metrics factory: each name gets its help text (and buckets) from `catalog`.
    struct Factory: MetricsFactory {
        let registry: PrometheusCollectorRegistry

        /// The whole name as the metric name (no unit part to join), with its help text.
        func descriptor(_ label: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: label, unitName: "", helpText: NodeMetrics.catalog[label]?.help ?? "")
        }

        func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
            registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
        }

        func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
            registry.makeCounter(descriptor: descriptor(label), labels: dimensions)
        }

        func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
            registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
        }

        func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
            registry.makeGauge(descriptor: descriptor(label), labels: dimensions)
        }

        func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
            let buckets = NodeMetrics.catalog[label]?.buckets ?? NodeMetrics.durationBuckets
            return registry.makeDurationHistogram(descriptor: descriptor(label), labels: dimensions, buckets: buckets)
        }

        func destroyCounter(_ handler: any CounterHandler) {
            if let counter = handler as? Prometheus.Counter { registry.unregisterCounter(counter) }
        }

        func destroyRecorder(_ handler: any RecorderHandler) {
            if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        }

        func destroyMeter(_ handler: any MeterHandler) {
            if let gauge = handler as? Prometheus.Gauge { registry.unregisterGauge(gauge) }
        }

        func destroyTimer(_ handler: any TimerHandler) {
            if let histogram = handler as? DurationHistogram { registry.unregisterDurationHistogram(histogram) }
        }
    }
}

public import Metrics
public import Wire

/// Counts the errors a node answers its clients in `incidentlog_client_errors_total{code}`
/// (docs/OPERATIONS.md, "Metrics"), with the node's metrics factory
/// (`IncidentNode.Options.metricsFactory`): every refusal the node sends a client, on the line
/// protocol and over HTTP, goes through `refusal`.
public struct ClientErrors: Sendable {
    let factory: any MetricsFactory

    public init(factory: any MetricsFactory) {
        self.factory = factory
    }

    /// The error line for `error`, counted.
    public func refusal(_ error: WireError) -> [UInt8] {
        Counter(label: "incidentlog_client_errors_total", dimensions: [("code", error.code.rawValue)], factory: factory).increment()
        return ClientResponse.error(error)
    }
}

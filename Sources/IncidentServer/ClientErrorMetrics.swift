import Metrics
public import Wire

extension ClientResponse {
    /// The error line for `error`, counted in `incidentlog_client_errors_total{code}`: every
    /// refusal the node sends a client, on the line protocol and over HTTP, goes through here
    /// (docs/OPERATIONS.md, "Metrics").
    public static func refusal(_ error: WireError) -> [UInt8] {
        Counter(label: "incidentlog_client_errors_total", dimensions: [("code", error.code.rawValue)]).increment()
        return ClientResponse.error(error)
    }
}

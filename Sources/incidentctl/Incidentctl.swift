import ArgumentParser
import IncidentClient
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// incidentctl: the command-line client of a node's client API.
@main
struct Incidentctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incidentctl",
        abstract: "Talk to an IncidentLog node: append, import, export, status, benchmarks.",
        subcommands: [
            Append.self, Get.self, Import.self, Export.self, Ingest.self, Tail.self, Status.self, SectorCommand.self,
            OverviewCommand.self, IncidentCommand.self, IncidentsCommand.self, Bench.self,
        ])
}

/// Options every subcommand shares.
struct NodeOptions: ParsableArguments {
    @Option(help: "The node's client API, HOST:PORT.")
    var node: String = "127.0.0.1:7400"

    @Option(help: "The client token, sent first on each connection (default: $INCIDENTCTL_TOKEN; the variable keeps it out of ps).")
    var token: String?

    @Option(name: .customLong("tls-ca"), help: "Connect over TLS, verifying the node's certificate against this CA (PEM file).")
    var tlsCA: String?

    /// The node to talk to, with the token and TLS of these options.
    func address() throws -> IncidentEndpoint {
        guard let hp = HostPort(node) else { throw ValidationError("--node: expected HOST:PORT, got \(node)") }
        let fromEnvironment = getenv("INCIDENTCTL_TOKEN").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        return IncidentEndpoint(hp, token: token ?? fromEnvironment, tlsCA: tlsCA)
    }
}

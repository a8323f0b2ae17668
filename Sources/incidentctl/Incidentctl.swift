import ArgumentParser
import Foundation
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
        abstract: "Talk to an IncidentLog node: append, import, export, backup, status, benchmarks.",
        subcommands: [
            Append.self, Get.self, Import.self, Export.self, Ingest.self, BackupCommand.self, Tail.self, Status.self, SectorCommand.self,
            OverviewCommand.self, IncidentCommand.self, IncidentsCommand.self, Bench.self,
        ])

    /// Reads the connection options before the subcommand too, and names the nearest subcommand
    /// for a misspelt one, then hands the arguments to the parser.
    static func main() async {
        let paths = commandPaths(subcommands: configuration.subcommands, under: [])
        let arguments = IncidentctlArguments.movingLeadingConnectionOptions(Array(CommandLine.arguments.dropFirst()), paths: paths)
        if let typo = IncidentctlArguments.misspeltSubcommand(arguments, paths: paths) {
            exit(withError: ValidationError("unknown subcommand '\(typo.given)': did you mean '\(typo.suggestion)'?"))
        }
        await main(arguments)
    }

    /// Every subcommand's path of names, e.g. ["bench", "append"].
    static func commandPaths(subcommands: [any ParsableCommand.Type], under prefix: [String]) -> [[String]] {
        subcommands.flatMap { command -> [[String]] in
            let path = prefix + [command._commandName]
            return [path] + commandPaths(subcommands: command.configuration.subcommands, under: path)
        }
    }
}

/// Options every subcommand shares.
struct NodeOptions: ParsableArguments {
    @Option(help: "The node's client API, HOST:PORT (default: $INCIDENTCTL_NODE, else 127.0.0.1:7400).")
    var node: String?

    @Option(help: "The client token, sent first on each connection (default: $INCIDENTCTL_TOKEN; the variable keeps it out of ps).")
    var token: String?

    @Option(name: .customLong("tls-ca"), help: "Connect over TLS, verifying the node's certificate against this CA (PEM file).")
    var tlsCA: String?

    /// The node to talk to, with the token and TLS of these options.
    func address() throws -> IncidentEndpoint {
        func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        var node = self.node ?? "127.0.0.1:7400"
        var source = "--node"
        if self.node == nil, let fromEnvironment = environment("INCIDENTCTL_NODE") {
            node = fromEnvironment
            source = "INCIDENTCTL_NODE"
        }
        guard let hp = HostPort(node) else { throw ValidationError("\(source): expected HOST:PORT, got \(node)") }
        return IncidentEndpoint(hp, token: token ?? environment("INCIDENTCTL_TOKEN"), tlsCA: tlsCA)
    }
}

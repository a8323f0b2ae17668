import ArgumentParser
import IncidentClient
import Wire

/// incidentctl: the command-line client of a node's client API.
@main
struct Incidentctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incidentctl",
        abstract: "Talk to an IncidentLog node: append, import, export, status, benchmarks.",
        subcommands: [Append.self, Get.self, Import.self, Export.self, Ingest.self, Tail.self, Status.self, Bench.self])
}

/// Options every subcommand shares.
struct NodeOptions: ParsableArguments {
    @Option(help: "The node's client API, HOST:PORT.")
    var node: String = "127.0.0.1:7400"

    func address() throws -> HostPort {
        guard let hp = HostPort(node) else { throw ValidationError("--node: expected HOST:PORT, got \(node)") }
        return hp
    }
}

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load generators and benchmarks.", subcommands: [BenchAppend.self, BenchSync.self])
}

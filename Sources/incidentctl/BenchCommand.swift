import ArgumentParser
import Foundation
import IncidentClient

struct BenchAppend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Durable append throughput and acknowledgement latency against a running node.",
        discussion: "Each client keeps one append of --batch events in flight (closed loop). The node's fsync policy is the node's own.")

    @OptionGroup var options: NodeOptions
    @Option(help: "Concurrent client connections.") var clients: Int = 50
    @Option(help: "Events to append in the measured run.") var events: Int = 100_000
    @Option(help: "Events per append request.") var batch: Int = 1
    @Option(help: "Events appended before measuring.") var warmup: Int = 5_000
    @Option(help: "Seed of the event generator.") var seed: UInt64 = 1
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        guard clients >= 1, events >= 1, batch >= 1 else { throw ValidationError("clients, events and batch must be at least 1") }
        let bench = AppendBenchmark(
            node: try options.address(), clients: clients, events: events, batch: batch, warmup: warmup, seed: seed)
        let r = try await bench.run()
        func ms(_ micros: UInt64) -> String { String(format: "%.2f", Double(micros) / 1000) }
        if json {
            print(
                "{\"bench\":\"append\",\"clients\":\(clients),\"batch\":\(batch),\"events\":\(r.events),\"requests\":\(r.requests),"
                    + "\"seconds\":\(String(format: "%.3f", r.seconds)),\"events_per_s\":\(Int(r.eventsPerSecond)),"
                    + "\"p50_ms\":\(ms(r.p50Micros)),\"p99_ms\":\(ms(r.p99Micros)),\"p999_ms\":\(ms(r.p999Micros)),\"max_ms\":\(ms(r.maxMicros))}")
            return
        }
        print("clients  batch  events    seconds  events/s   p50 ms  p99 ms  p99.9 ms  max ms")
        print(
            String(
                format: "%7d  %5d  %8d  %7.2f  %9.0f  %6@  %6@  %8@  %6@", clients, batch, r.events, r.seconds, r.eventsPerSecond,
                ms(r.p50Micros) as NSString, ms(r.p99Micros) as NSString, ms(r.p999Micros) as NSString, ms(r.maxMicros) as NSString))
    }
}

struct BenchSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Catch-up of a new node from a peer, and live replication lag; starts its own two nodes on loopback.",
        discussion: "Uses the incidentd binary beside incidentctl (or $INCIDENTD_BIN). The new node stores under --fsync.")

    @Option(help: "Events the new node catches up.") var events: Int = 1_000_000
    @Option(help: "fsync policy of the catching-up node.") var fsync: String = "always"
    @Option(help: "Append rate on the source while measuring lag, events/s.") var rate: Int = 10_000
    @Option(name: .customLong("lag-seconds"), help: "How long to measure live lag.") var lagSeconds: Int = 10
    @Option(help: "Seed of the event generator.") var seed: UInt64 = 1
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let bench = SyncBenchmark(events: events, fsync: fsync, rate: rate, lagSeconds: lagSeconds, seed: seed)
        let r = try await bench.run { message in FileHandle.standardError.write(Data("\(message)\n".utf8)) }
        func ms(_ micros: UInt64) -> String { String(format: "%.2f", Double(micros) / 1000) }
        if json {
            print(
                "{\"bench\":\"sync\",\"events\":\(r.events),\"fsync\":\"\(fsync)\",\"catch_up_seconds\":\(String(format: "%.3f", r.catchUpSeconds)),"
                    + "\"catch_up_events_per_s\":\(Int(r.catchUpPerSecond)),\"lag_rate\":\(rate),\"lag_samples\":\(r.lagSamples),"
                    + "\"lag_p50_ms\":\(ms(r.lagP50Micros)),\"lag_p99_ms\":\(ms(r.lagP99Micros)),\"lag_max_ms\":\(ms(r.lagMaxMicros))}")
            return
        }
        print("catch-up   \(r.events) events in \(String(format: "%.2f", r.catchUpSeconds)) s = \(Int(r.catchUpPerSecond)) events/s (fsync \(fsync), verified)")
        print("live lag   \(rate) events/s, \(r.lagSamples) events: p50 \(ms(r.lagP50Micros)) ms  p99 \(ms(r.lagP99Micros)) ms  max \(ms(r.lagMaxMicros)) ms")
    }
}

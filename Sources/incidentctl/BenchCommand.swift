import ArgumentParser
import Foundation
import IncidentBench
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

struct BenchRebuild: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild",
        abstract: "Projection fold of a whole log (events/s), snapshot write/load, and start-up time with a snapshot.",
        discussion: "Writes its own log in a temporary directory; the start-up part uses the incidentd binary beside incidentctl.")

    @Option(help: "Events in the log.") var events: Int = 1_000_000
    @Option(help: "Fold runs; the median is reported.") var runs: Int = 3
    @Option(help: "Seed of the event generator.") var seed: UInt64 = 1
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        guard events >= 1, runs >= 1 else { throw ValidationError("events and runs must be at least 1") }
        let r = try await RebuildBenchmark(events: events, runs: runs, seed: seed).run { message in
            FileHandle.standardError.write(Data("\(message)\n".utf8))
        }
        if json {
            let startup = r.startupWithSnapshotSeconds.map { String(format: "%.3f", $0) } ?? "null"
            let rss = r.startupRSSBytes.map { "\($0)" } ?? "null"
            print(
                "{\"bench\":\"rebuild\",\"events\":\(r.events),\"runs\":\(r.foldSeconds.count),\"events_per_s\":\(Int(r.medianEventsPerSecond)),"
                    + "\"fold_seconds\":[\(r.foldSeconds.map { String(format: "%.3f", $0) }.joined(separator: ","))],"
                    + "\"snapshot_bytes\":\(r.snapshotBytes),\"snapshot_write_seconds\":\(String(format: "%.3f", r.snapshotWriteSeconds)),"
                    + "\"snapshot_load_seconds\":\(String(format: "%.3f", r.snapshotLoadSeconds)),\"startup_with_snapshot_seconds\":\(startup),"
                    + "\"startup_rss_bytes\":\(rss)}")
            return
        }
        print("fold       \(r.events) events: median \(Int(r.medianEventsPerSecond)) events/s over \(r.foldSeconds.count) runs (\(r.foldSeconds.map { String(format: "%.2f s", $0) }.joined(separator: ", ")))")
        print("snapshot   \(r.snapshotBytes / 1024) KiB, write \(String(format: "%.3f", r.snapshotWriteSeconds)) s, load \(String(format: "%.3f", r.snapshotLoadSeconds)) s")
        if let s = r.startupWithSnapshotSeconds {
            print("start-up   incidentd ready in \(String(format: "%.2f", s)) s with the snapshot" + (r.startupRSSBytes.map { ", RSS \($0 >> 20) MiB" } ?? ""))
        }
    }
}

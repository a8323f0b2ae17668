import ArgumentParser
import Foundation
import IncidentClient

#if canImport(Glibc)
import Glibc
#endif

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append a JSONL file of {\"type\",\"sector\",\"data\"} objects in batches.",
        discussion: """
            Each batch is one atomic append of at most --batch events and at most --max-request-bytes bytes \
            (the node's max_events_per_append and max_line_bytes; with the defaults and events of about 320 bytes, \
            about 3000 events per batch); two batches are in flight. A bad line (not JSON, or refused by the node) \
            stops the import with its line number and the field; every batch before it stays acknowledged, and \
            nothing of the bad line's batch is written. When the node refused it, the batch sent after it may be \
            stored too: the message names its lines and what to import again. The count printed says how many \
            events were stored. Blank lines are skipped. \
            Shows progress on a terminal. `incidentctl bench import` measures this path.
            """)

    @OptionGroup var options: NodeOptions
    @Argument(help: "The JSONL file, or - for standard input.") var file: String
    @Option(help: "Events per append request, at most (the node's max_events_per_append).")
    var batch: Int = JSONLImporter.maximumEventsPerRequest
    @Option(name: .customLong("max-request-bytes"), help: "Bytes per request line, at most (the node's max_line_bytes).")
    var maxRequestBytes: Int = JSONLImporter.defaultMaximumRequestBytes

    func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard maxRequestBytes >= 1024 else { throw ValidationError("--max-request-bytes must be at least 1024") }
    }

    func run() async throws {
        let total = file == "-" ? nil : Self.countLines(file)
        var progress = Progress(total: total, enabled: isatty(2) == 1)
        let importer = JSONLImporter(node: try options.address(), batch: batch, maximumRequestBytes: maxRequestBytes)
        let report: JSONLImporter.Report
        do {
            report = try await importer.run(path: file) { imported, seconds in
                progress.update(done: imported, rate: Double(imported) / max(seconds, 0.001))
            }
        } catch let error as JSONLImporter.CannotOpen {
            throw ValidationError(error.description)
        } catch {
            progress.finish()
            throw error
        }
        progress.finish()
        print(
            "imported \(report.imported) events in \(String(format: "%.2f", report.seconds)) s (\(Int(report.eventsPerSecond)) events/s)")
    }

    static func countLines(_ path: String) -> Int? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var count = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            for i in 0..<n where buffer[i] == 0x0A { count += 1 }
        }
        return count
    }
}

/// A one-line progress bar on stderr, drawn only on a terminal.
struct Progress {
    let total: Int?
    let enabled: Bool
    var drawn = false

    mutating func update(done: Int, rate: Double) {
        guard enabled else { return }
        var line: String
        if let total, total > 0 {
            let width = 30
            let filled = min(width, done * width / total)
            line = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] \(done)/\(total)"
        } else {
            line = "\(done) events"
        }
        line += String(format: "  %.0f events/s", rate)
        FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
        drawn = true
    }

    mutating func finish() {
        if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
        drawn = false
    }
}

import ArgumentParser
import Foundation
import IncidentClient
import IncidentModel

#if canImport(Glibc)
import Glibc
#endif

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append a JSONL file of {\"type\",\"sector\",\"data\"} objects in batches.",
        discussion: """
            Each batch is one atomic append. A bad line (not JSON, or refused by the node) stops the import with \
            its line number and the field; every batch before it stays acknowledged, and nothing of the bad \
            line's batch is written. The count printed says how many events were stored. \
            Blank lines are skipped. Shows progress on a terminal.
            """)

    @OptionGroup var options: NodeOptions
    @Argument(help: "The JSONL file, or - for standard input.") var file: String
    @Option(help: "Events per append request.") var batch: Int = 1000

    func run() async throws {
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        let input: UnsafeMutablePointer<FILE>
        if file == "-" {
            input = fdopen(0, "rb")
        } else {
            guard let f = fopen(file, "rb") else { throw ValidationError("cannot open \(file): \(String(cString: strerror(errno)))") }
            input = f
        }
        defer { if file != "-" { fclose(input) } }
        let total = file == "-" ? nil : Self.countLines(file)
        var progress = Progress(total: total, enabled: isatty(2) == 1)
        let started = Date()
        var imported = 0
        try await IncidentConnection.withConnection(to: try options.address()) { connection in
            var lineNumber = 0
            var pending: [[UInt8]] = []
            var pendingLines: [Int] = []
            func flush() async throws {
                guard !pending.isEmpty else { return }
                do {
                    let response = try await connection.request(Requests.append(eventObjects: pending))
                    imported += response["ids"]?.arrayValue?.count ?? 0
                } catch ClientError.server(let code, let message, let field) {
                    progress.finish()
                    if let field, let index = Self.eventIndex(field) {
                        let rest = field.drop { $0 != "." }.dropFirst()
                        throw ImportFailure(
                            "line \(pendingLines[index]): \(rest.isEmpty ? message : "\(rest): \(message.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? message)")",
                            imported: imported)
                    }
                    throw ImportFailure("\(code): \(message)", imported: imported)
                }
                pending.removeAll(keepingCapacity: true)
                pendingLines.removeAll(keepingCapacity: true)
                progress.update(done: imported, rate: Double(imported) / max(Date().timeIntervalSince(started), 0.001))
            }
            var linePointer: UnsafeMutablePointer<CChar>? = nil
            var capacity = 0
            defer { free(linePointer) }
            while true {
                let n = getline(&linePointer, &capacity, input)
                if n < 0 { break }
                lineNumber += 1
                var bytes = Array(UnsafeRawBufferPointer(start: linePointer, count: n))
                while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 { bytes.removeLast() }
                if bytes.isEmpty { continue }
                do {
                    _ = try JSONParser.parse(bytes)
                } catch {
                    // Stop here: earlier batches are stored, the current one is not sent.
                    progress.finish()
                    throw ImportFailure("line \(lineNumber): \(error)", imported: imported)
                }
                pending.append(bytes)
                pendingLines.append(lineNumber)
                if pending.count >= batch { try await flush() }
            }
            try await flush()
        }
        progress.finish()
        let seconds = Date().timeIntervalSince(started)
        print("imported \(imported) events in \(String(format: "%.2f", seconds)) s (\(Int(Double(imported) / max(seconds, 0.001))) events/s)")
    }

    /// `events[3].data.location.name` → 3.
    static func eventIndex(_ field: String) -> Int? {
        guard field.hasPrefix("events["), let close = field.firstIndex(of: "]") else { return nil }
        return Int(field[field.index(field.startIndex, offsetBy: 7)..<close])
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

struct ImportFailure: Error, CustomStringConvertible {
    var message: String
    var imported: Int
    init(_ message: String, imported: Int) {
        self.message = message
        self.imported = imported
    }
    var description: String { "\(message) (the \(imported) events before it are stored)" }
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

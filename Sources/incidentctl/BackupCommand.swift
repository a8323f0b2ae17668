import ArgumentParser
import Foundation
import IncidentBackup
import IncidentClient
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the running node's log into DIR, checked before it is declared good.",
        discussion: """
            Reads the log over the client API up to the event count when the backup starts, writes it as \
            segment files of the store's format, fsyncs them, then checks the copy as the node checks its log \
            on start (every hash, every origin's chain) and every signature against the node's trust list. \
            Only a copy that passes is renamed to DIR; one that fails is removed, and incidentctl exits 1. \
            DIR must be new or empty. The node's private key is not in the backup. Restore: \
            docs/OPERATIONS.md, "Backup and restore".
            """)

    @OptionGroup var options: NodeOptions
    @Argument(help: "A new or empty directory for the backup.") var dir: String
    @Flag(help: "Print the summary (or the error) as one JSON object on stdout.") var json = false

    func run() async throws {
        var backup = BackupOptions(endpoint: try options.address(), directory: dir)
        let progress = isatty(STDERR_FILENO) != 0 ? ProgressLine() : nil
        if let progress { backup.progress = { progress.show($0) } }
        let summary: BackupSummary
        do {
            summary = try await Backup.run(backup)
            progress?.clear()
        } catch let error as BackupError {
            progress?.clear()
            guard json else { throw error }
            print(#"{"ok":false,"error":{"code":"\#(error.code.rawValue)","message":\#(jsonString(error.message))}}"#)
            throw ExitCode(1)
        }
        if json {
            print(String(decoding: summary.json, as: UTF8.self))
            return
        }
        let v = summary.verification
        let seconds = Double(summary.milliseconds) / 1000
        let origins = v.vector.origins.map { "\($0) \(v.vector[$0])" }.joined(separator: ", ")
        print(
            "backup good: \(v.events) events of \(v.vector.origins.count) origin(s) (\(origins)), \(Format.bytes(Int64(v.bytes))) in "
                + "\(v.segments) segment(s); every hash chain checked, \(v.signaturesChecked) signatures verified; "
                + String(format: "%.1f s, %.0f events/s", seconds, seconds > 0 ? Double(v.events) / seconds : 0))
        for (origin, n) in v.unsignedTails.sorted(by: { $0.key < $1.key }) {
            print("  \(origin): the newest \(n) event(s) carry no signature yet (their chain is checked; \(origin)'s next signed event covers them)")
        }
        if !v.uncheckedOrigins.isEmpty {
            print("  no trusted key for \(v.uncheckedOrigins.joined(separator: ", ")): their signatures were not checked (hashes and chains were)")
        }
        print("in \(summary.directory)")
    }

    func jsonString(_ s: String) -> String {
        let data = try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
        return data.map { String(decoding: $0.dropFirst().dropLast(), as: UTF8.self) } ?? "\"\""
    }
}

/// The backup's progress on one line of stderr (a terminal), redrawn at most 4 times a second.
final class ProgressLine: Sendable {
    let lastDrawn = Mutex<ContinuousClock.Instant?>(nil)

    func show(_ p: BackupProgress) {
        let now = ContinuousClock.now
        let due = lastDrawn.withLock { last -> Bool in
            if let l = last, l.duration(to: now) < .milliseconds(250), p.phase == .reading { return false }
            last = now
            return true
        }
        guard due else { return }
        let seconds = Double(p.elapsed.components.seconds) + Double(p.elapsed.components.attoseconds) * 1e-18
        let text: String
        switch p.phase {
        case .reading:
            let rate = seconds > 0 ? Double(p.events) / seconds : 0
            let percent = p.total > 0 ? Double(p.events) * 100 / Double(p.total) : 100
            text = String(
                format: "\r\u{1B}[Kbackup  %llu/%llu events  %.0f%%  %@  %.0f events/s  %@/s", p.events, p.total, percent,
                Format.bytes(Int64(p.bytes)), rate, Format.bytes(Int64(seconds > 0 ? Double(p.bytes) / seconds : 0)))
        case .checking:
            text = "\r\u{1B}[Kbackup  \(p.events) events, \(Format.bytes(Int64(p.bytes))) written; checking the copy (hashes, chains, signatures)"
        }
        FileHandle.standardError.write(Data(text.utf8))
    }

    func clear() {
        guard lastDrawn.withLock({ $0 }) != nil else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

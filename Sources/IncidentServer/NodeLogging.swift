import Logging
import Systemd

#if canImport(Glibc)
import Glibc
#endif

/// Picks where the node's logs go and bootstraps swift-log once, in the executable.
public enum NodeLogging {
    /// `auto` made concrete: journald when stderr is the journal (JOURNAL_STREAM matches it) or
    /// is discarded while journald listens; logfmt on stderr otherwise.
    public static func resolve(_ format: LogFormat, environment: [String: String]) -> LogFormat {
        guard format == .auto else { return format }
        return JournalStream.prefersJournal(journalStream: environment["JOURNAL_STREAM"]) ? .journald : .logfmt
    }

    /// Bootstraps the logging system with `format` (already resolved), every handler reading
    /// `level`. Call once per process.
    public static func bootstrap(_ format: LogFormat, level: SharedLogLevel, identifier: String = "incidentd") {
        let read: @Sendable () -> Logger.Level = { level.level }
        LoggingSystem.bootstrap { label in
            switch format {
            case .journald: return JournaldLogHandler(label: label, identifier: identifier, logLevel: read)
            case .json: return StderrLogHandler(label: label, format: .json, logLevel: read)
            case .logfmt, .auto: return StderrLogHandler(label: label, format: .logfmt, logLevel: read)
            }
        }
    }
}

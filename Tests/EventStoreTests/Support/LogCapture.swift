import Logging
import Synchronization

/// A test-only log handler that keeps every record in memory, so tests can read what the store
/// logged without bootstrapping the logging system.
final class LogCapture: Sendable {
    struct Record: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
    }

    private let storage = Mutex<[Record]>([])

    var records: [Record] { storage.withLock { $0 } }

    var logger: Logger {
        Logger(label: "incidentlog.test") { _ in Handler(capture: self) }
    }

    func records(withMessage message: String) -> [Record] {
        records.filter { $0.message == message }
    }

    fileprivate func append(_ record: Record) {
        storage.withLock { $0.append(record) }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.append(
                Record(
                    level: event.level, message: event.message.description,
                    metadata: metadata.merging(event.metadata ?? [:]) { _, new in new }))
        }
    }
}

import IncidentModel
public import Logging

/// Logs one JSON object per message on stderr, for log shippers that want JSON:
/// `{"ts":"2026-11-29T04:00:00.123Z","level":"info","msg":"store opened","store.events":"12"}`.
/// Metadata keys keep their dotted names; values are strings (lists and maps as their
/// description), so every line has the same shape.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let level: @Sendable () -> Logger.Level
    var levelOverride: Logger.Level?

    /// - Parameter logLevel: read on every message (a reload changes it); `info` when nil.
    public init(label: String, logLevel: (@Sendable () -> Logger.Level)? = nil) {
        self.label = label
        self.level = logLevel ?? { .info }
    }

    /// The shared level, unless this handler's copy was given its own.
    public var logLevel: Logger.Level {
        get { levelOverride ?? level() }
        set { levelOverride = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var w = JSONWriter()
        w.raw("{\"ts\":")
        w.string(formatMillis(wallClockMillis()))
        w.raw(",\"level\":")
        w.string(event.level.rawValue)
        w.raw(",\"msg\":")
        w.string(event.message.description)
        w.raw(",\"logger\":")
        w.string(label)
        let all = mergedMetadata(metadata, provider: metadataProvider, event: event)
        for key in all.keys.sorted() where !["ts", "level", "msg", "logger"].contains(key) {
            w.raw(",")
            w.string(key)
            w.raw(":")
            w.string(all[key]!.description)
        }
        w.raw("}\n")
        writeToStderr(String(decoding: w.bytes, as: UTF8.self))
    }
}

public import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Logs one logfmt line per message on stderr:
/// `ts=2026-11-29T04:00:00.123Z level=info msg="store opened" store.events=12`.
public struct LogfmtLogHandler: LogHandler {
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
        var line = "ts=\(formatMillis(wallClockMillis())) level=\(event.level) msg=\(Self.quote(event.message.description))"
        let all = mergedMetadata(metadata, provider: metadataProvider, event: event)
        for key in all.keys.sorted() {
            line += " \(key)=\(Self.quote(all[key]!.description))"
        }
        line += "\n"
        writeToStderr(line)
    }

    static func quote(_ s: String) -> String {
        if !s.isEmpty && !s.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) { return s }
        var out = "\""
        for c in s {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out + "\""
    }
}

import IncidentModel

func formatMillis(_ millis: Int64) -> String { RFC3339.format(millis: millis) }

func wallClockMillis() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// The handler's metadata, the provider's, then the message's (later ones win).
func mergedMetadata(_ metadata: Logger.Metadata, provider: Logger.MetadataProvider?, event: LogEvent) -> Logger.Metadata {
    var all = metadata
    if let provided = provider?.get() { all.merge(provided) { _, new in new } }
    if let extra = event.metadata { all.merge(extra) { _, new in new } }
    if let error = event.error { all["error"] = "\(error)" }
    return all
}

/// One write(2) per line keeps lines from concurrent tasks whole.
func writeToStderr(_ line: String) {
    var bytes = Array(line.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

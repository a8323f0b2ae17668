import IncidentModel
public import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Logs one line per message on stderr, in one of two formats:
/// - logfmt: `ts=2026-11-29T04:00:00.123Z level=info msg="store opened" store.events=12`;
/// - json, for log shippers: `{"ts":"…","level":"info","msg":"store opened","logger":"incidentd","store.events":"12"}`
///   (metadata keys keep their dotted names; values are strings, so every line has one shape).
public struct StderrLogHandler: LogHandler {
    public enum Format: Sendable { case logfmt, json }

    let format: Format
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let level: @Sendable () -> Logger.Level
    var levelOverride: Logger.Level?

    /// - Parameter logLevel: read on every message (a reload changes it); `info` when nil.
    public init(label: String, format: Format = .logfmt, logLevel: (@Sendable () -> Logger.Level)? = nil) {
        self.label = label
        self.format = format
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
        let all = mergedMetadata(metadata, provider: metadataProvider, event: event)
        let ts = formatMillis(wallClockMillis())
        switch format {
        case .logfmt:
            var line = "ts=\(ts) level=\(event.level) msg=\(Self.quote(event.message.description))"
            for key in all.keys.sorted() {
                line += " \(key)=\(Self.quote(all[key]!.description))"
            }
            writeToStderr(line + "\n")
        case .json:
            var w = JSONWriter()
            w.raw("{\"ts\":")
            w.string(ts)
            w.raw(",\"level\":")
            w.string(event.level.rawValue)
            w.raw(",\"msg\":")
            w.string(event.message.description)
            w.raw(",\"logger\":")
            w.string(label)
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

    /// A logfmt value: bare when it has no space, quote, `=` or newline, else quoted with those
    /// escaped. The in-process test node's captured log quotes with it too.
    package static func quote(_ s: String) -> String {
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

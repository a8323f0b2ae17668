import CSystemd
public import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes each message to journald with `sd_journal_sendv(3)`, as
/// structured fields:
///
/// - `MESSAGE`, `PRIORITY` (syslog level from the log level), `SYSLOG_IDENTIFIER`,
///   `CODE_FILE`, `CODE_LINE`, `CODE_FUNC`, `LOGGER` (the logger's label);
/// - each metadata key as an upper-case field: `sync.peer` → `SYNC_PEER` (see `fieldName`).
///
/// `journalctl -t incidentd SYNC_PEER=gao -o json` then finds a peer's lines without parsing
/// text. Values may hold newlines; `sd_journal_sendv` encodes them.
public struct JournaldLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let identifier: String
    let level: @Sendable () -> Logger.Level
    var levelOverride: Logger.Level?

    /// - Parameters:
    ///   - identifier: `SYSLOG_IDENTIFIER`, what `journalctl -t` selects (e.g. `incidentd`).
    ///   - logLevel: read on every message, so that a reload can change it for every logger.
    public init(
        label: String, identifier: String, metadataProvider: Logger.MetadataProvider? = nil,
        logLevel: @escaping @Sendable () -> Logger.Level
    ) {
        self.label = label
        self.identifier = identifier
        self.metadataProvider = metadataProvider
        self.level = logLevel
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
        var fields: [(String, String)] = [
            ("MESSAGE", event.message.description),
            ("PRIORITY", String(Self.priority(event.level))),
            ("SYSLOG_IDENTIFIER", identifier),
            ("CODE_FILE", event.file),
            ("CODE_LINE", String(event.line)),
            ("CODE_FUNC", event.function),
            ("LOGGER", label),
        ]
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        if let error = event.error { fields.append(("ERROR", "\(error)")) }
        for key in all.keys.sorted() {
            fields.append((Self.fieldName(key), all[key]!.description))
        }
        Self.send(fields)
    }

    /// The journal field for a metadata key: upper case, every character outside `A-Z 0-9 _`
    /// as `_`, no leading `_` (those fields are journald's own) or digit, at most 64 bytes;
    /// a key that would collide with a field this handler sets gets a `META_` prefix.
    public static func fieldName(_ key: String) -> String {
        var name = String(
            key.uppercased().unicodeScalars.map { s -> Character in
                switch s {
                case "A"..."Z", "0"..."9", "_": return Character(s)
                default: return "_"
                }
            })
        while name.hasPrefix("_") { name.removeFirst() }
        if name.isEmpty || name.first!.isNumber { name = "META_" + name }
        if reserved.contains(name) || name.hasPrefix("CODE_") { name = "META_" + name }
        return String(name.prefix(64))
    }

    static let reserved: Set<String> = ["MESSAGE", "MESSAGE_ID", "PRIORITY", "SYSLOG_IDENTIFIER", "LOGGER", "ERROR"]

    /// syslog(3) priorities: trace and debug are 7, critical is 2.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// One `sd_journal_sendv` call: every `NAME=value` in one buffer, an iovec per field.
    static func send(_ fields: [(String, String)]) {
        var buffer: [UInt8] = []
        var ranges: [Range<Int>] = []
        for (name, value) in fields {
            let start = buffer.count
            buffer.append(contentsOf: name.utf8)
            buffer.append(UInt8(ascii: "="))
            buffer.append(contentsOf: value.utf8)
            ranges.append(start..<buffer.count)
        }
        buffer.withUnsafeMutableBytes { raw in
            let vectors = ranges.map { r in iovec(iov_base: raw.baseAddress! + r.lowerBound, iov_len: r.count) }
            _ = vectors.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
    }
}

import Foundation
import IncidentModel
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// The core of `incidentctl import` and `incidentctl bench import`: reads a JSONL file of
/// `{"type","sector","data"}` objects and appends them to a node in batches, one atomic append
/// per request, two requests in flight (the node reads the next while it commits one).
///
/// A request holds at most `batch` events and at most `maximumRequestBytes` bytes (the node
/// refuses a longer line with `line_too_long` and closes the connection), whichever comes first.
/// Each line is checked to be one well-formed JSON value before it is sent (a structural scan
/// that builds nothing; the node's parser also refuses duplicate keys, and such a refusal is
/// traced back to its line). A bad line stops the import with its line number: every batch
/// before it stays acknowledged, nothing of its own batch is written. When the node refused it,
/// the batch sent after it may be stored too: `ImportFailure` then names its lines. Blank lines
/// are skipped.
public struct JSONLImporter: Sendable {
    /// The node's default `max_events_per_append`.
    public static let maximumEventsPerRequest = 10_000
    /// The node's default `max_line_bytes` (1 MiB).
    public static let defaultMaximumRequestBytes = 1_048_576

    public var endpoint: IncidentEndpoint
    /// Events per request, at most.
    public var batch: Int
    /// Bytes per request line (without its newline), at most.
    public var maximumRequestBytes: Int

    public init(node: IncidentEndpoint, batch: Int = 1000, maximumRequestBytes: Int = defaultMaximumRequestBytes) {
        self.endpoint = node
        self.batch = batch
        self.maximumRequestBytes = maximumRequestBytes
    }

    public struct Report: Sendable {
        /// Events the node acknowledged.
        public var imported: Int
        /// Append requests sent.
        public var requests: Int
        /// Bytes of the event objects sent.
        public var bytes: Int
        /// From the start of reading to the last acknowledgement, connecting included.
        public var seconds: Double
        /// Per request: sent → acknowledged.
        public var latency: LatencySummary
        public var eventsPerSecond: Double { Double(imported) / max(seconds, 1e-9) }
    }

    /// The file could not be opened; nothing was sent.
    public struct CannotOpen: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "cannot open \(path): \(reason)" }

        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }
    }

    static let requestPrefix = ClientRequest.eventsArrayPrefix
    /// Requests sent before the oldest one's answer is awaited: the node parses the next while
    /// it commits the one before.
    static let requestsInFlight = 2

    /// Imports `path` ("-": standard input). `progress` is called after each acknowledged
    /// request with the events stored so far and the seconds since the start.
    public func run(path: String, progress: (_ imported: Int, _ seconds: Double) -> Void = { _, _ in }) async throws -> Report {
        let input: UnsafeMutablePointer<FILE>
        if path == "-" {
            guard let f = fdopen(0, "rb") else { throw CannotOpen(path: "standard input", reason: String(cString: strerror(errno))) }
            input = f
        } else {
            guard let f = fopen(path, "rb") else { throw CannotOpen(path: path, reason: String(cString: strerror(errno))) }
            input = f
        }
        defer { if path != "-" { fclose(input) } }
        guard batch >= 1 else { throw ImportFailure("batch must be at least 1", imported: 0) }
        let batch = self.batch
        let maximumBytes = maximumRequestBytes
        let started = MonotonicClock.now()
        var imported = 0
        var requests = 0
        var bytesSent = 0
        var latencies = LatencyHistogram()
        try await IncidentConnection.withConnection(to: endpoint) { connection in
            func newRequest() -> [UInt8] {
                var request = Self.requestPrefix
                request.reserveCapacity(min(maximumBytes, 1 << 20) + 64)
                return request
            }
            var request = newRequest()
            // Where each event of the pending request starts and ends in `request`, and its line.
            var objects: [(range: Range<Int>, line: Int)] = []
            // Requests sent and not answered yet, oldest first.
            var inFlight: [(request: [UInt8], objects: [(range: Range<Int>, line: Int)], sent: UInt64)] = []
            func receiveOldest() async throws {
                let sent = inFlight.removeFirst()
                let response: JSONValue
                do {
                    response = try IncidentConnection.decode(try await connection.receiveResponse())
                } catch ClientError.server(let code, let message, let field) {
                    var failure = Self.failure(
                        code: code, message: message, field: field, request: sent.request, objects: sent.objects, imported: imported)
                    failure.refusedLines = sent.objects.first!.line...sent.objects.last!.line
                    // The request sent after it was on its way before this answer came: read
                    // whether it was stored, so the report says exactly what is.
                    for later in inFlight {
                        let lines = later.objects.first!.line...later.objects.last!.line
                        do {
                            let answer = try IncidentConnection.decode(try await connection.receiveResponse())
                            let stored = answer["ids"]?.arrayValue?.count ?? 0
                            failure.imported += stored
                            failure.storedAfter = (lines, stored)
                        } catch ClientError.server {
                            // Refused as well: not stored.
                        } catch {
                            failure.message += "; lines \(lines.lowerBound)–\(lines.upperBound) were sent after it and no answer came (\(error)): they may be stored"
                        }
                    }
                    inFlight.removeAll()
                    throw failure
                }
                latencies.record(nanos: MonotonicClock.now() - sent.sent)
                imported += response["ids"]?.arrayValue?.count ?? 0
                requests += 1
                bytesSent += sent.request.count - Self.requestPrefix.count - 2 - (sent.objects.count - 1)
                progress(imported, Double(MonotonicClock.now() - started) / 1e9)
            }
            func flush() async throws {
                guard !objects.isEmpty else { return }
                request.append(contentsOf: "]}".utf8)
                try await connection.send(request)
                inFlight.append((request, objects, MonotonicClock.now()))
                request = newRequest()
                objects.removeAll(keepingCapacity: true)
                if inFlight.count >= Self.requestsInFlight { try await receiveOldest() }
            }
            // A bad line found here: the answers to the requests before it first (a refusal
            // among them is about an earlier line, and is the one reported).
            func stop(_ message: String) async throws -> Never {
                while !inFlight.isEmpty { try await receiveOldest() }
                throw ImportFailure(message, imported: imported)
            }
            var linePointer: UnsafeMutablePointer<CChar>? = nil
            var capacity = 0
            defer { free(linePointer) }
            var lineNumber = 0
            while true {
                let n = getline(&linePointer, &capacity, input)
                if n < 0 { break }
                lineNumber += 1
                let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(linePointer!).assumingMemoryBound(to: UInt8.self), count: n)
                var end = n
                while end > 0, bytes[end - 1] == 0x0A || bytes[end - 1] == 0x0D || bytes[end - 1] == 0x20 { end -= 1 }
                if end == 0 { continue }
                let line = UnsafeBufferPointer(rebasing: bytes[0..<end])
                // Stop at a bad line: earlier batches are stored, the current one is not sent.
                let valueEnd: Int
                do {
                    valueEnd = try JSONParser.skipValue(in: line, from: 0)
                } catch {
                    try await stop("line \(lineNumber): \(error)")
                }
                if valueEnd != end {
                    try await stop("line \(lineNumber): invalid JSON at byte \(valueEnd): unexpected data after the value")
                }
                if Self.requestPrefix.count + end + 2 > maximumBytes {
                    try await stop(
                        "line \(lineNumber): the event is \(end) bytes; a request line holds at most \(maximumBytes) (the node's max_line_bytes)")
                }
                if !objects.isEmpty && request.count + 1 + end + 2 > maximumBytes { try await flush() }
                if !objects.isEmpty { request.append(UInt8(ascii: ",")) }
                let start = request.count
                request.append(contentsOf: line)
                objects.append((start..<request.count, lineNumber))
                if objects.count >= batch { try await flush() }
            }
            try await flush()
            while !inFlight.isEmpty { try await receiveOldest() }
        }
        return Report(
            imported: imported, requests: requests, bytes: bytesSent, seconds: Double(MonotonicClock.now() - started) / 1e9,
            latency: latencies.summary)
    }

    /// The node refused a request: name the line when the node named the event (`events[3].data…`),
    /// or, for `invalid_json` (a duplicate key: the only thing the scan before sending lets
    /// through), find the line by parsing each event of the request.
    static func failure(
        code: String, message: String, field: String?, request: [UInt8], objects: [(range: Range<Int>, line: Int)], imported: Int
    ) -> ImportFailure {
        if let field, let index = eventIndex(field), index < objects.count {
            let rest = field.drop { $0 != "." }.dropFirst()
            let reason = message.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? message
            return ImportFailure("line \(objects[index].line): \(rest.isEmpty ? message : "\(rest): \(reason)")", imported: imported)
        }
        if code == "invalid_json" {
            for object in objects {
                do {
                    _ = try JSONParser.parse(request[object.range])
                } catch {
                    return ImportFailure("line \(object.line): \(error)", imported: imported)
                }
            }
        }
        return ImportFailure("\(code): \(message)", imported: imported)
    }

    /// `events[3].data.location.name` → 3.
    static func eventIndex(_ field: String) -> Int? {
        guard field.hasPrefix("events["), let close = field.firstIndex(of: "]") else { return nil }
        return Int(field[field.index(field.startIndex, offsetBy: 7)..<close])
    }
}

/// An import stopped: why (with the line, when one is to blame) and how many events were stored.
///
/// Two requests are in flight, so when the node refuses one, the one sent after it may already
/// be stored: `storedAfter` then names its lines, and the description says what to import again.
public struct ImportFailure: Error, CustomStringConvertible {
    public var message: String
    /// Every event stored by this import, those of `storedAfter` included.
    public var imported: Int
    /// The lines of the request the node refused, when it refused one.
    public var refusedLines: ClosedRange<Int>?
    /// The request sent after the refused one, stored before its refusal came back: its lines
    /// and events.
    public var storedAfter: (lines: ClosedRange<Int>, events: Int)?

    public init(_ message: String, imported: Int) {
        self.message = message
        self.imported = imported
    }

    public var description: String {
        guard let after = storedAfter, let refused = refusedLines else {
            return "\(message) (the \(imported) events before it are stored)"
        }
        return "\(message) (stored: the \(imported - after.events) events before line \(refused.lowerBound), and lines "
            + "\(after.lines.lowerBound)–\(after.lines.upperBound), sent before the refusal came back; not stored: lines "
            + "\(refused.lowerBound)–\(refused.upperBound) and every line after \(after.lines.upperBound))"
    }
}

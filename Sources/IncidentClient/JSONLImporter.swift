import Foundation
import IncidentModel

#if canImport(Glibc)
import Glibc
#endif

/// The core of `incidentctl import` and `incidentctl bench import`: reads a JSONL file of
/// `{"type","sector","data"}` objects and appends them to a node in batches, one atomic append
/// per request, one request in flight.
///
/// A request holds at most `batch` events and at most `maximumRequestBytes` bytes (the node
/// refuses a longer line with `line_too_long` and closes the connection), whichever comes first.
/// Each line is checked to be one well-formed JSON value before it is sent (a structural scan
/// that builds nothing; the node's parser also refuses duplicate keys, and such a refusal is
/// traced back to its line). A bad line stops the import with its line number: every batch
/// before it stays acknowledged, nothing of its own batch is written. Blank lines are skipped.
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

    static let requestPrefix = Array(#"{"op":"append","events":["#.utf8)

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
            var request = Self.requestPrefix
            request.reserveCapacity(min(maximumBytes, 1 << 20) + 64)
            // Where each event of the pending request starts and ends in `request`, and its line.
            var objects: [(range: Range<Int>, line: Int)] = []
            func flush() async throws {
                guard !objects.isEmpty else { return }
                request.append(contentsOf: "]}".utf8)
                let t0 = MonotonicClock.now()
                let response: JSONValue
                do {
                    try await connection.send(request)
                    response = try IncidentConnection.decode(try await connection.receiveResponse())
                } catch ClientError.server(let code, let message, let field) {
                    throw Self.failure(code: code, message: message, field: field, request: request, objects: objects, imported: imported)
                }
                latencies.record(nanos: MonotonicClock.now() - t0)
                imported += response["ids"]?.arrayValue?.count ?? 0
                requests += 1
                bytesSent += request.count - Self.requestPrefix.count - 2 - (objects.count - 1)
                request.removeSubrange(Self.requestPrefix.count...)
                objects.removeAll(keepingCapacity: true)
                progress(imported, Double(MonotonicClock.now() - started) / 1e9)
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
                do {
                    let valueEnd = try JSONParser.skipValue(in: line, from: 0)
                    if valueEnd != end {
                        throw ImportFailure("line \(lineNumber): invalid JSON at byte \(valueEnd): unexpected data after the value", imported: imported)
                    }
                } catch let error as JSONParser.Error {
                    // Stop here: earlier batches are stored, the current one is not sent.
                    throw ImportFailure("line \(lineNumber): \(error)", imported: imported)
                }
                if Self.requestPrefix.count + end + 2 > maximumBytes {
                    throw ImportFailure(
                        "line \(lineNumber): the event is \(end) bytes; a request line holds at most \(maximumBytes) (the node's max_line_bytes)",
                        imported: imported)
                }
                if !objects.isEmpty && request.count + 1 + end + 2 > maximumBytes { try await flush() }
                if !objects.isEmpty { request.append(UInt8(ascii: ",")) }
                let start = request.count
                request.append(contentsOf: line)
                objects.append((start..<request.count, lineNumber))
                if objects.count >= batch { try await flush() }
            }
            try await flush()
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

/// An import stopped: why (with the line, when one is to blame) and how many events were stored
/// before it.
public struct ImportFailure: Error, CustomStringConvertible {
    public var message: String
    public var imported: Int

    public init(_ message: String, imported: Int) {
        self.message = message
        self.imported = imported
    }

    public var description: String { "\(message) (the \(imported) events before it are stored)" }
}

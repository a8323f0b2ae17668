import HTTPTypes
import Exports
import Hummingbird
import IncidentModel
import IncidentServer
import Logging
import NIOCore
import Wire

/// The routes of the HTTP listener (docs/HTTP.md; docs/openapi.yaml describes the API).
///
/// Every `/api/v1` route turns the HTTP request into the request line of the same operation of
/// the client protocol (docs/PROTOCOL.md) and has it answered by the line protocol's request
/// handler (`NodeAPI.answer`): the body is the line's JSON object, byte for byte; a refusal
/// keeps its stable code and gets the HTTP status of `status(for:)`.
struct Routes: Sendable {
    let context: IncidentNode.HTTPContext
    let metrics: NodeMetrics
    let connections: HTTPConnections

    var api: NodeAPI { context.api }

    /// Every route of the listener. The handlers ask `routes` for the node's side when a request
    /// comes, so the table can be built without a node (the OpenAPI test lists it).
    static func router(_ routes: @escaping @Sendable () -> Routes) -> Router<RouteContext> {
        let router = Router(context: RouteContext.self)
        router.get("/api/v1/status") { request, _ in await routes().query(request) { _ in ["op": .text("status")] } }
        router.get("/api/v1/overview") { request, _ in
            await routes().query(request) { q in ["op": .text("overview"), "since": q.text("since"), "until": q.text("until")] }
        }
        router.get("/api/v1/sectors/{sector}") { request, context in
            await routes().query(request) { q in
                ["op": .text("sector"), "sector": .text(context.parameters.get("sector") ?? ""), "since": q.text("since"), "until": q.text("until")]
            }
        }
        router.get("/api/v1/incidents") { request, _ in
            await routes().query(request) { q in
                [
                    "op": .text("incidents"), "sector": q.text("sector"), "category": q.text("category"), "status": q.text("status"),
                    "verification": q.text("verification"), "since": q.text("since"), "until": q.text("until"),
                    "limit": try q.integer("limit", code: .invalidQuery), "cursor": q.text("cursor"),
                ]
            }
        }
        router.get("/api/v1/incidents/{id}") { request, context in
            await routes().query(request) { _ in ["op": .text("incident"), "id": .text(context.parameters.get("id") ?? "")] }
        }
        router.get("/api/v1/events") { request, _ in
            await routes().query(request) { q in
                ["op": .text("read"), "from": try q.integer("from", code: .invalidRequest), "limit": try q.integer("limit", code: .invalidRequest)]
            }
        }
        router.get("/api/v1/events/{id}") { request, context in
            await routes().query(request) { _ in ["op": .text("get"), "id": .text(context.parameters.get("id") ?? "")] }
        }
        router.post("/api/v1/events") { request, context in await routes().append(request, context: context) }
        router.get("/api/v1/stream") { request, context in await routes().stream(request, context: context) }
        router.get("/api/v1/export") { request, _ in await routes().export(request) }
        router.get("/metrics") { request, _ in routes().metrics(request) }
        StaticFiles.add(to: router) { routes().api.errors }
        return router
    }

    // MARK: The JSON API

    /// A query parameter's value for a request line member: absent, a string, or an integer.
    enum Member {
        case none
        case text(String)
        case integer(Int64)
    }

    /// The query string of a request.
    struct Query {
        let request: Request

        func text(_ name: String) -> Member {
            request.uri.queryParameters.get(name).map { Member.text($0) } ?? .none
        }

        /// An integer parameter; one that is not a decimal integer is refused with `code`.
        func integer(_ name: String, code: WireErrorCode) throws(WireError) -> Member {
            guard let text = request.uri.queryParameters.get(name) else { return .none }
            guard let n = Int64(text) else { throw WireError(code, "\(name): expected an integer, got \(text)") }
            return .integer(n)
        }
    }

    /// Authenticates, builds the request line from `members` (in this order; absent ones left
    /// out) and answers it.
    func query(_ request: Request, _ members: (Query) throws -> KeyValuePairs<String, Member>) async -> Response {
        let caller: NodeAPI.Caller
        switch authenticate(request, allowQueryToken: false) {
        case .success(let c): caller = c
        case .failure(let error): return refusal(error)
        }
        if let refused = rateLimited(request) { return refused }
        var w = JSONWriter()
        w.raw("{")
        do {
            var first = true
            for (key, value) in try members(Query(request: request)) {
                if case .none = value { continue }
                if !first { w.raw(UInt8(ascii: ",")) }
                first = false
                w.string(key)
                w.raw(UInt8(ascii: ":"))
                switch value {
                case .none: break
                case .text(let s): w.string(s)
                case .integer(let n): w.integer(n)
                }
            }
        } catch {
            return refusal(error as? WireError ?? WireError(.invalidRequest, "\(error)"))
        }
        w.raw("}")
        return Self.response(await api.answer(w.bytes, caller: caller, shuttingDown: connections.shuttingDown))
    }

    /// `POST /api/v1/events`: the body is an `append` request without `op`.
    func append(_ request: Request, context: RouteContext) async -> Response {
        var request = request
        let caller: NodeAPI.Caller
        switch authenticate(request, allowQueryToken: false) {
        case .success(let c): caller = c
        case .failure(let error): return refusal(error)
        }
        if let refused = rateLimited(request) { return refused }
        let limit = self.context.maximumBodyBytes
        let tooLarge = WireError(.lineTooLong, "a request body is at most \(limit) bytes (max_line_bytes)")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            return refusal(tooLarge, close: true)
        }
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: limit)
        } catch {
            return refusal(tooLarge, close: true)
        }
        // `{"op":"append",` then the body's members: the body must be a JSON object.
        var bytes = Array(body.readableBytesView)
        guard let open = bytes.firstIndex(where: { !Self.isJSONSpace($0) }), bytes[open] == UInt8(ascii: "{") else {
            return refusal(WireError(.invalidRequest, "the body is a JSON object: the members of an append request without op"))
        }
        let rest = bytes[(open + 1)...]
        let empty = rest.first(where: { !Self.isJSONSpace($0) }) == UInt8(ascii: "}")
        bytes = Array("{\"op\":\"append\"".utf8) + (empty ? [] : [UInt8(ascii: ",")]) + rest
        return Self.response(await api.answer(bytes, caller: caller, shuttingDown: connections.shuttingDown))
    }

    static func isJSONSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    /// The caller of a request: `Authorization: Bearer <token>`; for the event stream also
    /// `?access_token=` (a browser's EventSource cannot set headers).
    func authenticate(_ request: Request, allowQueryToken: Bool) -> Result<NodeAPI.Caller, WireError> {
        var token: String? = nil
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
                return .failure(WireError(.unauthorized, "expected Authorization: Bearer <token>"))
            }
            token = String(parts[1].drop { $0 == " " })
        } else if allowQueryToken, let t = request.uri.queryParameters.get("access_token") {
            token = t
        }
        return api.caller(bearer: token, listenerIsLoopback: context.isLoopback)
    }

    /// The answer for a request the connection guard found over the rate limit, else nil.
    func rateLimited(_ request: Request) -> Response? {
        guard request.headers[ConnectionGuard.refusedHeader] != nil else { return nil }
        return refusal(
            WireError(.rateLimited, "more than \(context.limits.requestsPerSecond) requests a second on this connection; the request was not run"))
    }

    // MARK: Exports

    /// `GET /api/v1/export?format=csv|hxl|geojson[&sector=]`: every incident (of `sector`), as
    /// `incidentctl export` writes them (Sources/Exports). The rows come from the `incidents`
    /// request of the line protocol, a page of `exportPageSize` at a time, answered by the same
    /// handler as every route; the first page is asked before the response starts, so a refusal
    /// (a token, an unknown sector) keeps its status and code, and the body is streamed page by
    /// page after it, so the node never holds more than a page of the export.
    func export(_ request: Request) async -> Response {
        let caller: NodeAPI.Caller
        switch authenticate(request, allowQueryToken: false) {
        case .success(let c): caller = c
        case .failure(let error): return refusal(error)
        }
        if let refused = rateLimited(request) { return refused }
        let formatName = request.uri.queryParameters.get("format") ?? "csv"
        guard let format = ExportFormat(rawValue: formatName) else {
            let known = ExportFormat.allCases.map(\.rawValue).joined(separator: ", ")
            return refusal(WireError(.invalidQuery, "format: expected one of \(known), got \(formatName)"))
        }
        let sector = request.uri.queryParameters.get("sector").map { String($0) }
        let api = self.api
        let shuttingDown = connections.shuttingDown
        @Sendable func page(_ cursor: String?) async -> (line: [UInt8], view: JSONValue?) {
            var w = JSONWriter()
            w.raw("{\"op\":\"incidents\",\"limit\":")
            w.integer(Self.exportPageSize)
            if let sector {
                w.raw(",\"sector\":")
                w.string(sector)
            }
            if let cursor {
                w.raw(",\"cursor\":")
                w.string(cursor)
            }
            w.raw("}")
            let line = await api.answer(w.bytes, caller: caller, shuttingDown: shuttingDown)
            let answer = try? JSONParser.parse(line.last == UInt8(ascii: "\n") ? line.dropLast() : line[...])
            return (line, answer?["ok"]?.boolValue == true ? answer?["view"] : nil)
        }
        let first = await page(nil)
        guard let firstView = first.view else { return Self.response(first.line) }
        var headers = HTTPFields()
        headers[.contentType] = format.contentType
        headers[.contentDisposition] = "attachment; filename=\"incidents\(sector.map { "-" + $0 } ?? "").\(format.fileExtension)\""
        let body = ResponseBody { writer in
            var exporter = IncidentExporter(format: format)
            var (rows, cursor) = IncidentExporter.page(firstView)
            try await writer.write(ByteBuffer(bytes: exporter.begin() + exporter.append(rows)))
            while let next = cursor {
                guard let view = await page(next).view else { break }
                (rows, cursor) = IncidentExporter.page(view)
                try await writer.write(ByteBuffer(bytes: exporter.append(rows)))
            }
            try await writer.write(ByteBuffer(bytes: exporter.end()))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// Incidents per `incidents` request of an export.
    static let exportPageSize: Int64 = 1000

    // MARK: Metrics and the stream

    func metrics(_ request: Request) -> Response {
        if case .failure(let error) = authenticate(request, allowQueryToken: false) { return refusal(error) }
        if let refused = rateLimited(request) { return refused }
        metrics.update(from: api.state(), httpConnections: connections.count)
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: metrics.emit())))
    }

    func stream(_ request: Request, context: RouteContext) async -> Response {
        let caller: NodeAPI.Caller
        switch authenticate(request, allowQueryToken: true) {
        case .success(let c): caller = c
        case .failure(let error): return refusal(error)
        }
        if let refused = rateLimited(request) { return refused }
        return EventStream.response(request, api: api, caller: caller, limits: self.context.limits, channel: context.channel, logger: self.context.logger)
    }

    // MARK: Answers

    /// The HTTP status of an answer with error `code` (docs/HTTP.md, "Errors").
    static func status(for code: WireErrorCode) -> HTTPResponse.Status {
        switch code {
        case .invalidJSON, .invalidRequest, .invalidEvent, .unknownRequest, .invalidQuery, .tooDeep, .tooManyMembers: return .badRequest
        case .unauthorized: return .unauthorized
        case .forbidden: return .forbidden
        case .notFound: return .notFound
        case .unknownIncident: return .conflict
        case .lineTooLong, .tooManyEvents: return .contentTooLarge
        case .idleTimeout: return .requestTimeout
        case .rateLimited: return .tooManyRequests
        case .tooManyConnections, .shuttingDown, .slowConsumer: return .serviceUnavailable
        case .diskFull: return .init(code: 507, reasonPhrase: "Insufficient Storage")
        case .storeFailed, .internalError: return .internalServerError
        }
    }

    /// An answer line of the request handler as a response: the JSON object without the line's
    /// `\n`; a refusal's status from its code.
    static func response(_ line: [UInt8]) -> Response {
        var bytes = line
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        var status = HTTPResponse.Status.ok
        if bytes.starts(with: Array("{\"ok\":false".utf8)), let code = errorCode(bytes) { status = Self.status(for: code) }
        return json(bytes, status: status)
    }

    static func json(_ bytes: [UInt8], status: HTTPResponse.Status, close: Bool = false) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if close { headers[.connection] = "close" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The code of an error line `{"ok":false,"error":{"code":"…",…}}`.
    static func errorCode(_ bytes: [UInt8]) -> WireErrorCode? {
        guard let json = try? JSONParser.parse(bytes), let code = json["error"]?["code"]?.stringValue else { return nil }
        return WireErrorCode(rawValue: code)
    }

    /// The error body `{"ok":false,"error":{…}}`, counted in the node's `errors` as every
    /// refusal is.
    static func body(_ error: WireError, errors: ClientErrors) -> ByteBuffer {
        var bytes = errors.refusal(error)
        bytes.removeLast()
        return ByteBuffer(bytes: bytes)
    }

    static func refusal(_ error: WireError, close: Bool = false, errors: ClientErrors) -> Response {
        json(Array(body(error, errors: errors).readableBytesView), status: status(for: error.code), close: close)
    }

    /// `refusal` counted in this node's errors.
    func refusal(_ error: WireError, close: Bool = false) -> Response {
        Self.refusal(error, close: close, errors: api.errors)
    }

    /// A whole HTTP/1.1 response for a connection refused before its first request.
    static func rawRefusal(_ error: WireError, errors: ClientErrors) -> [UInt8] {
        let body = Array(self.body(error, errors: errors).readableBytesView)
        let status = self.status(for: error.code)
        let head =
            "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\ncontent-type: application/json\r\ncontent-length: \(body.count)\r\nconnection: close\r\n\r\n"
        return Array(head.utf8) + body
    }
}

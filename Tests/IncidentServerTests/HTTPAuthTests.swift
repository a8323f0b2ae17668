import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import NIOHTTP1
import Testing

/// Every route of the HTTP API and the event stream refuse a request without a token, with a
/// token the node does not hold, and (for the one route that writes) with a role that may not
/// append; and none of those writes anything (docs/HTTP.md, "Authentication").
@Suite("HTTP API authentication", .timeLimit(.minutes(2)))
struct HTTPAuthTests {
    /// Every route that needs a role, with a request the reader token may make (all but the append).
    static let reads = [
        "/api/v1/status", "/api/v1/overview", "/api/v1/sectors/east", "/api/v1/incidents", "/api/v1/incidents/INCIDENT",
        "/api/v1/events", "/api/v1/events/test:1", "/api/v1/export", "/api/v1/stream", "/metrics",
    ]

    static func append(sector: String, incident: String) -> [UInt8] {
        Array(#"{"event":"#.utf8) + Fixtures.incident(incident, sector: sector) + Array("}".utf8)
    }

    @Test("no token, a wrong token and the wrong role are refused on every route, and nothing is written")
    func refusals() async throws {
        try await HTTP.inProcess(config: Security.tokenConfig()) { node in
            let incident = UUID().uuidString.lowercased()
            // The hq token appends (the route works), so a later refusal is the check's, not a missing route's.
            let stored = try await HTTP.request(node, .POST, "/api/v1/events", token: Security.hqToken, body: Self.append(sector: "east", incident: incident))
            #expect(stored.status == 200, "\(String(decoding: stored.body, as: UTF8.self))")
            #expect(try await HTTP.eventCount(node, token: Security.hqToken) == 1)

            let routes = Self.reads.map { $0.replacingOccurrences(of: "INCIDENT", with: incident) }
            for path in routes {
                for (name, headers) in [("no token", [(String, String)]()), ("wrong token", [("Authorization", "Bearer not-a-token-of-this-node")]), ("not bearer", [("Authorization", "Basic aGVsbG8=")])] {
                    let answer = try await HTTP.request(node, .GET, path, headers: headers)
                    #expect(answer.status == 401, "\(name) GET \(path): \(answer.status)")
                    #expect(answer.errorCode == "unauthorized", "\(name) GET \(path): \(String(decoding: answer.body, as: UTF8.self))")
                    #expect(answer.header("WWW-Authenticate") == "Bearer", "\(name) GET \(path)")
                }
                // Every role may read (as on the line protocol): the reader gets the answer.
                let read = try await HTTPConnection.withConnection(to: try HTTP.address(node)) { c in
                    try await c.send(.GET, path, headers: [("Authorization", "Bearer \(Security.readerToken)")])
                    return try await c.readHead().status
                }
                #expect(read == 200, "reader GET \(path)")
            }
            // The stream also takes the token in the query (EventSource cannot set headers).
            let wrongQuery = try await HTTP.request(node, .GET, "/api/v1/stream?access_token=not-a-token-of-this-node")
            #expect(wrongQuery.status == 401 && wrongQuery.errorCode == "unauthorized")
            let rightQuery = try await HTTPConnection.withConnection(to: try HTTP.address(node)) { c in
                try await c.send(.GET, "/api/v1/stream?access_token=\(Security.readerToken)")
                return try await c.readHead().status
            }
            #expect(rightQuery == 200)
            // Only the event stream takes it: elsewhere a token in the URL would end up in logs.
            let elsewhere = try await HTTP.request(node, .GET, "/api/v1/status?access_token=\(Security.readerToken)")
            #expect(elsewhere.status == 401)

            // The route that writes: no token, a wrong token, a reader, an office outside its sectors.
            let west = Self.append(sector: "west", incident: UUID().uuidString.lowercased())
            for (name, token, status, code) in [
                ("no token", nil, 401, "unauthorized"), ("wrong token", "not-a-token-of-this-node", 401, "unauthorized"),
                ("reader", Security.readerToken, 403, "forbidden"), ("office outside its sectors", Security.officeToken, 403, "forbidden"),
            ] as [(String, String?, Int, String)] {
                let answer = try await HTTP.request(node, .POST, "/api/v1/events", token: token, body: west)
                #expect(answer.status == status, "\(name) POST: \(answer.status)")
                #expect(answer.errorCode == code, "\(name) POST: \(String(decoding: answer.body, as: UTF8.self))")
            }
            #expect(try await HTTP.eventCount(node, token: Security.hqToken) == 1, "a refused request wrote an event")
        }
    }

    @Test("on a loopback listener a client without a token is anonymous hq, as on the line protocol")
    func anonymousOnLoopback() async throws {
        try await HTTP.inProcess { node in
            let body = Self.append(sector: "west", incident: UUID().uuidString.lowercased())
            let answer = try await HTTP.request(node, .POST, "/api/v1/events", body: body)
            #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
            #expect(try await HTTP.eventCount(node) == 1)
        }
    }
}

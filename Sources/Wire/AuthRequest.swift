import IncidentModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The client protocol's authentication request (docs/PROTOCOL.md "Authentication"):
///
///     {"op":"auth","token":"<the client's token>"}
///
/// answered `{"ok":true,"name":…,"role":…}` (plus `"sectors":[…]` for an office) or
/// `unauthorized`. It is kept apart from `ClientRequest` because the node looks at it before
/// anything else on a connection that has not authenticated, and never hands it to the handler.
public enum AuthRequest {
    /// The longest token accepted; longer ones are `invalid_request` (a token is a random string
    /// of a few dozen characters, not a document).
    public static let maximumTokenLength = 1024

    static let quotedAuth = Array("\"auth\"".utf8)

    /// Whether `line` may be an auth request: it holds the JSON string `"auth"`. A cheap test, so
    /// that ordinary requests of an authenticated connection are not parsed twice. Each quote is
    /// found with libc's `memchr` (a byte loop here was 1% of the node's time under 50 appending
    /// clients).
    public static func mayBeAuth(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = line.baseAddress else { return false }
        return quotedAuth.withUnsafeBufferPointer { needle in
            let n = needle.count
            var at = 0
            while line.count - at >= n {
                guard let quote = memchr(base + at, Int32(UInt8(ascii: "\"")), line.count - at - n + 1) else { return false }
                let i = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(quote))
                if memcmp(base + i, needle.baseAddress!, n) == 0 { return true }
                at = i + 1
            }
            return false
        }
    }

    /// What a line is, as far as authentication cares.
    public enum Parsed: Sendable, Equatable {
        /// `{"op":"auth","token":T}`.
        case auth(token: String)
        /// A JSON object with another `op` (or none): not an auth request.
        case other
    }

    /// Parses `line` as far as needed to tell an auth request from any other request. Throws
    /// `invalid_json` for a line that is not JSON and `invalid_request` for an auth request of the
    /// wrong shape.
    public static func parse(_ line: UnsafeBufferPointer<UInt8>) throws(WireError) -> Parsed {
        let json: JSONValue
        do throws(JSONParser.Error) {
            json = try JSONParser.parse(buffer: line)
        } catch {
            throw WireError(json: error)
        }
        guard let members = json.objectMembers, json["op"]?.stringValue == "auth" else { return .other }
        for m in members where m.key != "op" && m.key != "token" {
            throw WireError(.invalidRequest, "auth: unknown member \(m.key) (expected {\"op\":\"auth\",\"token\":…})")
        }
        guard let token = json["token"]?.stringValue, !token.isEmpty else {
            throw WireError(.invalidRequest, "token: required non-empty string")
        }
        guard token.utf8.count <= maximumTokenLength else {
            throw WireError(.invalidRequest, "token: at most \(maximumTokenLength) bytes")
        }
        return .auth(token: token)
    }

    /// The request line for `token`.
    public static func line(token: String) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"op\":\"auth\",\"token\":")
        w.string(token)
        w.raw("}")
        return w.bytes
    }
}

extension ClientResponse {
    /// The answer to a successful `auth`: the token's name and role, and an office's sectors.
    public static func authenticated(name: String, role: String, sectors: [String]?) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"ok\":true,\"name\":")
        w.string(name)
        w.raw(",\"role\":")
        w.string(role)
        if let sectors {
            w.raw(",\"sectors\":[")
            for (i, s) in sectors.enumerated() {
                if i > 0 { w.raw(UInt8(ascii: ",")) }
                w.string(s)
            }
            w.raw("]")
        }
        w.raw("}\n")
        return w.bytes
    }
}

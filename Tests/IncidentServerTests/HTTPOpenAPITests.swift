import Foundation
@testable import IncidentHTTP
import Testing

/// docs/openapi.yaml describes exactly the routes the HTTP listener serves: the same paths, each
/// with the same methods (path parameters and catch-alls compared as placeholders).
@Suite("HTTP API and its OpenAPI document")
struct HTTPOpenAPITests {
    /// `{name}` and `**` as `{}`.
    static func normalized(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment == "**" || (segment.hasPrefix("{") && segment.hasSuffix("}")) ? "{}" : String(segment)
        }.joined(separator: "/")
    }

    /// `METHOD path` for every operation under `paths:` of the document.
    static func documented() throws -> Set<String> {
        let text = try String(contentsOfFile: HTTP.repositoryRoot + "/docs/openapi.yaml", encoding: .utf8)
        var out = Set<String>()
        var inPaths = false
        var path: String? = nil
        for line in text.split(separator: "\n") {
            if line == "paths:" {
                inPaths = true
                continue
            }
            guard inPaths else { continue }
            if !line.hasPrefix(" ") { break }
            if line.hasPrefix("  /"), !line.hasPrefix("   "), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "),
                let method = ["get", "put", "post", "delete", "patch", "head"].first(where: { line == "    \($0):" })
            {
                out.insert("\(method.uppercased()) \(normalized(path))")
            }
        }
        return out
    }

    @Test("every route is in docs/openapi.yaml and every operation there is a route")
    func routesMatchTheDocument() throws {
        let router = Routes.router { fatalError("no request is routed here") }
        let served = Set(router.routes.map { "\($0.method) \(Self.normalized("\($0.path)"))" })
        let documented = try Self.documented()
        #expect(!served.isEmpty && !documented.isEmpty)
        #expect(served.subtracting(documented).isEmpty, "served, not in docs/openapi.yaml: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "in docs/openapi.yaml, not served: \(documented.subtracting(served).sorted())")
    }
}

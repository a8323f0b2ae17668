import HTTPTypes
import Hummingbird
import IncidentServer
import NIOCore
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// The dashboard and the libraries it loads, served without authentication (they hold no data;
/// every `/api/v1` route does): `GET /` (index.html) and `GET /assets/<file>` from
/// Sources/IncidentHTTP/Dashboard (the module's resource bundle, beside the executable), and
/// `GET /vendor/leaflet/<file>`, `/vendor/chart.js/<file>` from Debian's `libjs-leaflet` and
/// `libjs-chart.js` (/usr/share/javascript). A name is plain path segments of
/// `A-Z a-z 0-9 . _ -`, none starting with a dot.
enum StaticFiles {
    /// The resource bundle SwiftPM builds for this module, found beside the executable.
    static let bundleName = "IncidentLog_IncidentHTTP.resources"

    static let vendor: [(route: String, directory: String, package: String)] = [
        ("leaflet", "/usr/share/javascript/leaflet", "libjs-leaflet"),
        ("chart.js", "/usr/share/javascript/chart.js", "libjs-chart.js"),
    ]

    /// `errors`: the node's, asked when a file is missing (the table is built without a node).
    static func add(to router: Router<RouteContext>, errors: @escaping @Sendable () -> ClientErrors) {
        router.get("/") { _, _ in
            serve(dashboard.map { $0 + "/index.html" }, missing: "the dashboard's files", cache: "no-cache", errors: errors())
        }
        router.get("/assets/**") { _, context in
            serve(path(dashboard, context.parameters.getCatchAll()), missing: "the dashboard's files", cache: "no-cache", errors: errors())
        }
        for v in vendor {
            router.get("/vendor/\(v.route)/**") { _, context in
                serve(
                    path(v.directory, context.parameters.getCatchAll()), missing: "Debian's \(v.package) package", cache: "max-age=86400",
                    errors: errors())
            }
        }
    }

    /// The dashboard's directory in the resource bundle, nil when the bundle is not installed
    /// beside the executable.
    static let dashboard: String? = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let exe = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let dir = exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let candidate = dir + "/" + bundleName + "/Dashboard"
        return access(candidate, R_OK) == 0 ? candidate : nil
    }()

    /// `directory` joined with the segments of a request path, nil for a name outside the rules.
    static func path(_ directory: String?, _ segments: [Substring]) -> String? {
        guard let directory, !segments.isEmpty else { return nil }
        for s in segments {
            guard let first = s.utf8.first, first != UInt8(ascii: "."),
                s.utf8.allSatisfy({ isalnum(Int32($0)) != 0 || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") })
            else { return nil }
        }
        return directory + "/" + segments.joined(separator: "/")
    }

    static func serve(_ path: String?, missing: String, cache: String, errors: ClientErrors) -> Response {
        guard let path, let bytes = read(path) else {
            let why = path == nil ? "no such file" : "no such file, or \(missing) are not installed"
            return Routes.refusal(WireError(.notFound, why), errors: errors)
        }
        var headers = HTTPFields()
        headers[.contentType] = contentType(path)
        headers[.cacheControl] = cache
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var st = stat()
        guard fstat(fileno(f), &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        let n = out.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        return n == out.count ? out : nil
    }

    static func contentType(_ path: String) -> String {
        let ext = path.split(separator: ".").last.map { $0.lowercased() } ?? ""
        switch ext {
        case "html": return "text/html; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "json", "map": return "application/json"
        case "geojson": return "application/geo+json"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "ico": return "image/x-icon"
        case "woff2": return "font/woff2"
        default: return "application/octet-stream"
        }
    }
}

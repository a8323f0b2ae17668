import Foundation
import IncidentClient
import IncidentModel

/// One JSON object on one line, members in the order added (what `bench … --json` prints).
struct JSONLine {
    private var writer = JSONWriter()
    private var empty = true

    init() { writer.raw("{") }

    private mutating func key(_ name: String) {
        if !empty { writer.raw(",") }
        empty = false
        writer.string(name)
        writer.raw(":")
    }

    mutating func add(_ name: String, _ value: Int) {
        key(name)
        writer.integer(value)
    }

    mutating func add(_ name: String, _ value: String) {
        key(name)
        writer.string(value)
    }

    /// A number with `decimals` decimals; nil, NaN and infinity as null.
    mutating func add(_ name: String, _ value: Double?, decimals: Int = 3) {
        key(name)
        if let value, value.isFinite {
            writer.raw(String(format: "%.\(decimals)f", value).utf8)
        } else {
            writer.raw("null")
        }
    }

    mutating func add(_ name: String, _ values: [Double], decimals: Int = 3) {
        key(name)
        writer.raw("[")
        writer.raw(values.map { $0.isFinite ? String(format: "%.\(decimals)f", $0) : "null" }.joined(separator: ",").utf8)
        writer.raw("]")
    }

    mutating func add(_ name: String, _ object: JSONLine) {
        key(name)
        writer.raw(object.bytes)
    }

    mutating func add(_ name: String, _ objects: [JSONLine]) {
        key(name)
        writer.raw("[")
        for (i, o) in objects.enumerated() {
            if i > 0 { writer.raw(",") }
            writer.raw(o.bytes)
        }
        writer.raw("]")
    }

    /// `p50_ms`, `p99_ms`, `p999_ms`, `max_ms` (with a prefix, e.g. `append_`).
    mutating func add(latency: LatencySummary, prefix: String = "") {
        add(prefix + "p50_ms", latency.p50Millis)
        add(prefix + "p99_ms", latency.p99Millis)
        add(prefix + "p999_ms", latency.p999Millis)
        add(prefix + "max_ms", latency.maxMillis)
    }

    var bytes: [UInt8] { writer.bytes + [UInt8(ascii: "}")] }
    var text: String { String(decoding: bytes, as: UTF8.self) }
}

enum BenchOutput {
    /// Columns two spaces apart; the first `textColumns` left-aligned, the rest (figures) right-aligned.
    static func table(_ rows: [[String]], textColumns: Int = 1) -> [String] {
        guard let first = rows.first else { return [] }
        let widths = (0..<first.count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return c < textColumns ? cell + pad : pad + cell
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
    }

    static func ms(_ millis: Double) -> String { String(format: "%.3f", millis) }
    static func rate(_ perSecond: Double) -> String { perSecond.isFinite ? String(format: "%.0f", perSecond) : "-" }
    static func seconds(_ s: Double) -> String { String(format: "%.2f", s) }
    static func latencyCells(_ l: LatencySummary) -> [String] { [ms(l.p50Millis), ms(l.p99Millis), ms(l.p999Millis), ms(l.maxMillis)] }
    static let latencyHeader = ["p50 ms", "p99 ms", "p99.9 ms", "max ms"]

    /// Progress lines of a benchmark, on stderr.
    static func progress(_ message: String) {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }
}

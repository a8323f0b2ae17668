import Foundation
import IncidentModel

/// A JSON value in a form both parsers' results can be compared in: numbers by Double value,
/// strings by their exact UTF-8 (not by Swift's canonical equivalence), objects as maps.
indirect enum JSONTree: Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string([UInt8])
    case array([JSONTree])
    case object([[UInt8]: JSONTree])

    init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let b): self = .bool(b)
        case .number(let literal): self = .number(Double(literal)!)
        case .string(let s): self = .string(Array(s.utf8))
        case .array(let elements): self = .array(elements.map(JSONTree.init))
        case .object(let members):
            self = .object(Dictionary(members.map { (Array($0.key.utf8), JSONTree($0.value)) }, uniquingKeysWith: { a, _ in a }))
        }
    }

    /// Converts what `JSONSerialization` returns; nil for a type JSON cannot produce.
    init?(foundation any: Any) {
        switch any {
        case is NSNull:
            self = .null
        case let n as NSNumber:
            // JSONSerialization returns booleans as NSNumbers of ObjC type "c" (char) and never
            // produces a char-typed number for a JSON number.
            self = String(cString: n.objCType) == "c" ? .bool(n.boolValue) : .number(n.doubleValue)
        case let s as String:
            self = .string(Array(s.utf8))
        case let a as [Any]:
            var elements: [JSONTree] = []
            for e in a {
                guard let t = JSONTree(foundation: e) else { return nil }
                elements.append(t)
            }
            self = .array(elements)
        case let d as [String: Any]:
            var members: [[UInt8]: JSONTree] = [:]
            for (k, v) in d {
                guard let t = JSONTree(foundation: v) else { return nil }
                members[Array(k.utf8)] = t
            }
            self = .object(members)
        default:
            return nil
        }
    }

    /// The path and both sides of the first place where two trees differ, or nil.
    func firstDifference(from other: JSONTree, path: String = "$") -> String? {
        switch (self, other) {
        case (.array(let a), .array(let b)) where a.count == b.count:
            for (i, (x, y)) in zip(a, b).enumerated() {
                if let d = x.firstDifference(from: y, path: "\(path)[\(i)]") { return d }
            }
            return nil
        case (.object(let a), .object(let b)) where Set(a.keys) == Set(b.keys):
            for (k, x) in a {
                if let d = x.firstDifference(from: b[k]!, path: "\(path).\(String(decoding: k, as: UTF8.self).debugDescription)") {
                    return d
                }
            }
            return nil
        default:
            return self == other ? nil : "\(path): \(self) vs \(other)"
        }
    }

    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .number(let d): return "\(d)"
        case .string(let s): return "\"\(String(decoding: s, as: UTF8.self).debugDescription)\""
        case .array(let a): return "[" + a.map(\.description).joined(separator: ",") + "]"
        case .object(let o):
            return "{" + o.sorted { $0.key.lexicographicallyPrecedes($1.key) }
                .map { "\(String(decoding: $0.key, as: UTF8.self).debugDescription):\($0.value)" }
                .joined(separator: ",") + "}"
        }
    }
}

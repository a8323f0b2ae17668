import IncidentModel
import Testing
import Wire

/// An append read by the scanner (a line that begins `{"op":"append",`, as every client of this
/// project writes it) and the same append read as a tree (the line after a space, which the
/// scanner's path does not take) give the same events, byte for byte, or the same error.
@Suite struct AppendScanTests {
    enum Outcome: Equatable, CustomStringConvertible {
        case events([String])
        case refused(code: String, message: String, field: String?)
        case other

        var description: String {
            switch self {
            case .events(let e): "events \(e)"
            case .refused(let code, let message, let field): "refused \(code) \(message) field \(field ?? "-")"
            case .other: "another request"
            }
        }
    }

    /// The outcome of `line`; for the tree, `line` after a space, whose JSON error offsets are
    /// given back as offsets in `line`.
    static func outcome(_ line: [UInt8], tree: Bool = false) -> Outcome {
        let line = tree ? [0x20] + line : line
        do {
            let request = try line.withUnsafeBufferPointer { buffer throws(WireError) in
                try ClientRequest.parse(line: buffer, validator: EventValidator(), maximumEvents: 5)
            }
            guard case .append(let events) = request else { return .other }
            return .events(events.map { "\($0.type.rawValue)|\($0.sector)|" + String(decoding: $0.canonicalData, as: UTF8.self) })
        } catch {
            var message = error.message
            if tree, error.code == .invalidJSON, let at = message.range(of: "at byte "),
                let end = message[at.upperBound...].firstIndex(of: ":"), let offset = Int(message[at.upperBound..<end])
            {
                message.replaceSubrange(at.upperBound..<end, with: String(offset - 1))
            }
            return .refused(code: error.code.rawValue, message: message, field: error.field)
        }
    }

    static let report =
        #"{"summary":"IED on the \"RN16\" \u00e0 Gao","occurred_at":"2026-11-29T04:00:00Z","incident_id":"i-1","category":"ied","#
        + #""location":{"precision":"exact","name":"Gao","lon":-0.04,"lat":16.27}}"#
    static let events = [
        #"{"type":"incident.reported","sector":"east","data":\#(report)}"#,
        #"{"data":\#(report),"sector":"east","type":"incident.reported"}"#,
        " { \"sector\" : \"east\" ,\n \"type\":\"incident.reported\", \"data\" : \(report) } ",
        #"{"type":"incident.reported","sector":"east","data":{"incident_id":"i-2"}}"#,
        #"{"type":"incident.nope","sector":"east","data":{}}"#,
        #"{"type":"incident.reported","sector":"atlantis","data":\#(report)}"#,
        #"{"type":7,"sector":"east","data":{}}"#,
        #"{"type":"incident.reported","sector":null,"data":{}}"#,
        #"{"type":"incident.reported","sector":"east"}"#,
        #"{"sector":"east","data":{}}"#,
        #"{"type":"incident.reported","sector":"east","data":[],"zz":1,"origin":"x"}"#,
        #"{"type":"incident.reported","sector":"east","data":\#(report),"seq":1}"#,
        #"{"\u0074ype":"incident.reported","sector":"east","data":\#(report)}"#,
        #"[1]"#, #""event""#, #"17"#, #"null"#,
    ]

    static func lines() -> [[UInt8]] {
        var random = SplitMix64(seed: 0xA11E_2026)
        var lines: [String] = []
        for _ in 0..<400 {
            let count = Int(random.next() % 7)
            let chosen = (0..<count).map { _ in events[Int(random.next() % UInt64(events.count))] }
            switch random.next() % 6 {
            case 0: lines.append(#"{"op":"append","event":\#(chosen.first ?? "{}")}"#)
            case 1: lines.append(#"{"op":"append","event":{},"events":[\#(chosen.joined(separator: ","))]}"#)
            case 2: lines.append(#"{"op":"append","events":\#(chosen.first ?? "{}")}"#)
            case 3: lines.append(#"{"op":"append","token":"x","events":[\#(chosen.joined(separator: " , "))] } "#)
            default: lines.append(#"{"op":"append","events":[\#(chosen.joined(separator: ","))]}"#)
            }
        }
        lines += [#"{"op":"append","x":1}"#, #"{"op":"append","op":"append","events":[]}"#, #"{"op":"append","events":[}"#]
        return lines.map { Array($0.utf8) }
    }

    @Test func theScannerAndTheTreeReadEveryAppendAlike() {
        var kinds = Set<String>()
        for line in Self.lines() {
            #expect(line.starts(with: Array(#"{"op":"append","#.utf8)))
            let scanned = Self.outcome(line)
            let tree = Self.outcome(line, tree: true)
            guard scanned == tree else {
                Issue.record("scanner \(scanned), tree \(tree) — \(String(decoding: line, as: UTF8.self))")
                return
            }
            switch scanned {
            case .events: kinds.insert("events")
            case .refused(let code, _, _): kinds.insert(code)
            case .other: kinds.insert("other")
            }
        }
        // Accepted appends and each kind of refusal were compared, not only one of them.
        #expect(kinds.isSuperset(of: ["events", "invalid_event", "invalid_request", "invalid_json", "too_many_events"]))
    }

    /// The same lines with bytes changed: broken JSON is refused alike, at the same offset.
    @Test func mutatedAppendsAreRefusedAlike() {
        var random = SplitMix64(seed: 0xB0B)
        let alphabet = Array(#"{}[]":,\ e0."#.utf8) + [0x00, 0xC3, 0xFF]
        var refusedJSON = 0
        for var line in Self.lines() {
            let at = 15 + Int(random.next() % UInt64(line.count - 15))
            line[at] = alphabet[Int(random.next() % UInt64(alphabet.count))]
            guard line.starts(with: Array(#"{"op":"append","#.utf8)) else { continue }
            let scanned = Self.outcome(line)
            let tree = Self.outcome(line, tree: true)
            guard scanned == tree else {
                Issue.record("scanner \(scanned), tree \(tree) — \(String(decoding: line, as: UTF8.self))")
                return
            }
            if case .refused("invalid_json", _, _) = scanned { refusedJSON += 1 }
        }
        #expect(refusedJSON > 100)
    }
}

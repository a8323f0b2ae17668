import Foundation
import IncidentModel

/// Events built the way the store builds them, for tests of the line format.
enum EventSamples {
    static let data = #"{"incident_id":"4f1c","summary":"IED near Gao, «convoi» 🚚","location":{"name":"Gao"}}"#

    static func draft(seq: UInt64 = 1, prev: EventHash? = nil, data: String = data) -> Event.Draft {
        Event.Draft(
            origin: "gao", seq: seq, prev: prev, hlc: HLCTimestamp(wallMillis: 1_764_388_800_000, counter: 3),
            recordedAtMillis: 1_764_388_800_123, type: "incident.reported", sector: "east",
            data: try! JSONParser.parse(Array(data.utf8)).canonicalBytes)
    }

    /// A hash that is not the hash of anything in particular.
    static let someHash = EventHash(w0: 0x0123_4567_89AB_CDEF, w1: 1, w2: 2, w3: 0xFEDC_BA98_7654_3210)

    /// `line` with the first occurrence of `target` replaced.
    static func replacing(_ target: String, with replacement: String, in line: [UInt8]) -> [UInt8] {
        let text = String(decoding: line, as: UTF8.self)
        guard let range = text.range(of: target) else { fatalError("\(target) not in \(text)") }
        return Array(text.replacingCharacters(in: range, with: replacement).utf8)
    }
}

import IncidentModel
import Projections

/// Builds real event lines (`Event.encode`, hash-chained per origin) for the fold's tests.
struct EventLog {
    private(set) var events: [Event] = []
    private var chains: [String: (seq: UInt64, hash: EventHash)] = [:]

    /// Appends an event of `origin`; `data` is JSON text (canonicalized here as the node would).
    /// `hlc` defaults to the recorded time with counter 0.
    @discardableResult
    mutating func add(
        _ origin: String, _ type: String, sector: String, at recorded: String, hlc: HLCTimestamp? = nil,
        _ data: String
    ) -> Event {
        let millis = RFC3339.parseMillis(recorded)!
        let canonical = try! JSONParser.parse(Array(data.utf8)).canonicalBytes
        return add(origin, type, sector: sector, millis: millis, hlc: hlc, rawData: canonical)
    }

    /// Appends an event whose `data` is JSON text, canonicalized as the node would when it parses
    /// (else taken as it is, as a hostile origin could write it).
    @discardableResult
    mutating func add(
        _ origin: String, _ type: String, sector: String, millis: Int64, hlc: HLCTimestamp? = nil, _ data: String
    ) -> Event {
        let bytes = (try? JSONParser.parse(Array(data.utf8)).canonicalBytes) ?? Array(data.utf8)
        return add(origin, type, sector: sector, millis: millis, hlc: hlc, rawData: bytes)
    }

    /// Appends an event whose `data` bytes are taken as they are (possibly not JSON at all).
    @discardableResult
    mutating func add(
        _ origin: String, _ type: String, sector: String, millis: Int64, hlc: HLCTimestamp? = nil, rawData: [UInt8]
    ) -> Event {
        let chain = chains[origin]
        let seq = (chain?.seq ?? 0) + 1
        let stamp = hlc ?? HLCTimestamp(wallMillis: UInt64(millis), counter: 0)
        let event = Event.encode(
            Event.Draft(
                origin: origin, seq: seq, prev: chain?.hash, hlc: stamp, recordedAtMillis: millis, type: type,
                sector: sector, data: rawData),
            signer: nil)
        chains[origin] = (seq, event.hash)
        events.append(event)
        return event
    }

    var byID: [String: Event] { Dictionary(uniqueKeysWithValues: events.map { ($0.id, $0) }) }

    var lookup: EventLookup {
        let index = byID
        return { index[$0] }
    }

    /// Each origin's events in seq order.
    var perOrigin: [String: [Event]] { Dictionary(grouping: events, by: \.origin) }

    func folded(sectors: [String] = Sectors.defaultList) -> ProjectionState {
        var state = ProjectionState(sectors: sectors)
        state.apply(contentsOf: events)
        return state
    }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}

/// Compacts hand-written (pretty) expected JSON to the canonical form the views are written in.
func canonical(_ json: String) -> String {
    do {
        return try JSONParser.parse(Array(json.utf8)).canonicalBytes.text
    } catch {
        fatalError("expected JSON does not parse: \(error)\n\(json)")
    }
}

/// Navigates a view: `value(view, "casualties", "total", "killed")`.
func value(_ bytes: [UInt8], _ path: String...) -> JSONValue? {
    guard var v = try? JSONParser.parse(bytes) else { return nil }
    for key in path {
        if let i = Int(key), let a = v.arrayValue {
            guard i < a.count else { return nil }
            v = a[i]
        } else {
            guard let next = v[key] else { return nil }
            v = next
        }
    }
    return v
}

func int(_ bytes: [UInt8], _ path: String...) -> Int64? {
    guard var v = try? JSONParser.parse(bytes) else { return nil }
    for key in path {
        if let i = Int(key), let a = v.arrayValue {
            guard i < a.count else { return nil }
            v = a[i]
        } else {
            guard let next = v[key] else { return nil }
            v = next
        }
    }
    return v.integerValue
}

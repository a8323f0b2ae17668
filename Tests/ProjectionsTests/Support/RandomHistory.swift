import IncidentModel
import Projections

/// Random event sets for the convergence property: several origins writing every event type
/// about shared incidents, medevacs, consignments and stations — so events name incidents that
/// another origin reports later, several origins update, close, reopen, retract and report
/// casualties of the same incident, and clocks tie across origins.
struct RandomHistory {
    static let origins = ["bamako-hq", "gao", "kidal", "timbuktu"]

    var rng: SplitMix64
    var log = EventLog()
    var walls: [String: (wall: UInt64, counter: UInt32)] = [:]
    var now: UInt64 = 1_796_000_000_000
    let incidentIDs: [String]
    let medevacIDs: [String]
    let consignmentIDs: [String]
    let stationIDs: [String]

    init(seed: UInt64) {
        rng = SplitMix64(seed: seed)
        var g = rng
        func uuid() -> String {
            let a = g.next()
            let b = g.next()
            let hex = String(a, radix: 16).leftPadded(16) + String(b, radix: 16).leftPadded(16)
            let c = Array(hex)
            return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20])
                + "-" + String(c[20..<32])
        }
        // A mix of canonical UUIDs (kept as 128 bits) and free-form ids (kept as strings).
        incidentIDs = (0..<24).map { $0 % 3 == 0 ? "inc-\($0)" : uuid() } + ["INC-UPPER-\(g.next() % 100)"]
        medevacIDs = (0..<8).map { $0 % 2 == 0 ? "mdv-\($0)" : uuid() }
        consignmentIDs = (0..<6).map { "cons-\($0)" }
        stationIDs = (0..<5).map { "KID-\($0)" }
        rng = g
        let base: UInt64 = 1_796_000_000_000  // 2026-11-30
        for o in Self.origins { walls[o] = (base, 0) }
        now = base
    }

    static func make(seed: UInt64, events: Int) -> EventLog {
        var h = RandomHistory(seed: seed)
        for _ in 0..<events { h.step() }
        return h.log
    }

    mutating func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }

    /// The origin's next clock, an HLC over a shared coarse wall clock: origins writing in the
    /// same second stamp the same (wall, counter), so ties across origins are common and the
    /// tie-break by origin name is exercised; sometimes hours pass, so days change.
    mutating func tick(_ origin: String) -> (HLCTimestamp, Int64) {
        switch rng.next() % 20 {
        case 0..<6: now += 1000 * (rng.next() % 5 + 1)
        case 6: now += 1000 * (rng.next() % 40_000)
        default: break
        }
        var (wall, counter) = walls[origin]!
        if now > wall {
            wall = now
            counter = 0
        } else {
            counter += 1
        }
        walls[origin] = (wall, counter)
        // recorded_at is the origin's wall clock, which may lag its HLC.
        return (HLCTimestamp(wallMillis: wall, counter: counter), Int64(wall) - Int64(rng.next() % 3) * 1000)
    }

    mutating func time() -> String {
        RFC3339.format(millis: 1_796_000_000_000 + Int64(rng.next() % (8 * 86_400_000)) - 3 * 86_400_000)
    }

    mutating func counts() -> String {
        "{\"killed\":\(rng.next() % 2),\"wounded\":\(rng.next() % 3)" + (rng.chance(0.3) ? ",\"missing\":1}" : "}")
    }

    mutating func step() {
        let origin = pick(Self.origins)
        let sector = pick(Sectors.defaultList)
        let (hlc, millis) = tick(origin)
        let incident = pick(incidentIDs)
        var type: String
        var data: String
        switch rng.next() % 100 {
        case 0..<16:
            type = "incident.reported"
            data = """
                {"incident_id":"\(incident)","category":"\(pick(Vocabulary.incidentCategories))","summary":"s\(rng.next() % 9)",\
                "occurred_at":"\(time())","location":{"name":"L\(rng.next() % 5)"},"confidence":"\(pick(Vocabulary.confidences))"}
                """
        case 16..<28:
            type = "incident.updated"
            var changes: [String] = []
            if rng.chance(0.4) { changes.append("\"category\":\"\(pick(Vocabulary.incidentCategories))\"") }
            if rng.chance(0.4) { changes.append("\"occurred_at\":\"\(time())\"") }
            if rng.chance(0.4) { changes.append("\"summary\":\"u\(rng.next() % 9)\"") }
            if rng.chance(0.2) { changes.append("\"actors\":[\"a\(rng.next() % 3)\"]") }
            if rng.chance(0.3) { changes.append("\"status\":\"\(pick(Vocabulary.incidentStatuses))\"") }
            if changes.isEmpty { changes.append("\"status\":\"open\"") }
            data = "{\"incident_id\":\"\(incident)\",\"changes\":{\(changes.joined(separator: ","))}}"
        case 28..<34:
            type = "incident.verified"
            data = "{\"incident_id\":\"\(incident)\",\"status\":\"\(pick(Vocabulary.verificationStatuses))\"}"
        case 34..<42:
            type = "incident.closed"
            data = "{\"incident_id\":\"\(incident)\",\"reason\":\"done\"}"
        case 42..<45:
            type = "incident.retracted"
            data = "{\"incident_id\":\"\(incident)\",\"reason\":\"\(pick(Vocabulary.retractionReasons))\"}"
        case 45..<60:
            type = "casualties.reported"
            data = """
                {"incident_id":"\(incident)","peacekeepers":\(counts()),"national_forces":\(counts()),\
                "civilians":\(counts())\(rng.chance(0.3) ? ",\"armed_groups\":\(counts())" : "")}
                """
        case 60..<64:
            type = "medevac.requested"
            let link = rng.chance(0.6) ? ",\"incident_id\":\"\(incident)\"" : ""
            data = """
                {"medevac_id":"\(pick(medevacIDs))"\(link),"priority":"urgent","patients":2,"pickup":{"name":"P"}}
                """
        case 64..<68:
            type = "medevac.dispatched"
            data = "{\"medevac_id\":\"\(pick(medevacIDs))\",\"asset\":\"heli\"}"
        case 68..<71:
            type = "medevac.completed"
            data = "{\"medevac_id\":\"\(pick(medevacIDs))\",\"outcome\":\"\(pick(Vocabulary.medevacOutcomes))\"}"
        case 71..<75:
            type = "election.material.dispatched"
            data = """
                {"consignment_id":"\(pick(consignmentIDs))","items":{"ballot_papers":\(rng.next() % 900),\
                "\(pick(["ballot_boxes", "tally_sheets", "ink"]))":\(rng.next() % 9)},"to":{"name":"Kidal"}}
                """
        case 75..<78:
            type = "election.material.delivered"
            data = "{\"consignment_id\":\"\(pick(consignmentIDs))\",\"seals_intact\":true}"
        case 78..<82:
            type = "election.personnel.moved"
            data = "{\"count\":\(rng.next() % 20 + 1),\"to\":{\"name\":\"Gao\"}}"
        case 82..<89:
            type = "polling_station.status"
            data = """
                {"station_id":"\(pick(stationIDs))","name":"S","status":"\(pick(Vocabulary.pollingStationStatuses))"}
                """
        case 89..<95:
            type = "intel.sighting"
            data = """
                {"sighting_id":"x\(rng.next())","kind":"\(pick(Vocabulary.sightingKinds))","source":"uav","location":{"name":"Z"}}
                """
        case 95..<97:
            type = "weather.reported"  // a type from a newer version: quarantined
            data = "{\"incident_id\":\"\(incident)\",\"wind\":12}"
        default:
            // Data the append checks refuse (missing ids, wrong shapes): quarantined.
            type = pick(["incident.reported", "casualties.reported", "medevac.dispatched", "incident.updated"])
            data = pick(["{}", "{\"incident_id\":7}", "{\"incident_id\":\"\(incident)\",\"changes\":[]}", "{\"medevac_id\":\"\"}"])
        }
        log.add(origin, type, sector: sector, millis: millis, hlc: hlc, data)
    }
}

extension String {
    func leftPadded(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}

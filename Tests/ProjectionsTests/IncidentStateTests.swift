import IncidentModel
import Projections
import Testing

/// Registers of one incident: each field last-writer-wins by (hlc, origin), status with reopening.
@Suite struct IncidentStateTests {
    static let id = "a1b2c3d4-0000-4000-8000-00000000000a"

    static func reported(_ log: inout EventLog) {
        log.add("gao", "incident.reported", sector: "east", at: "2026-11-29T08:00:00Z", """
            {"incident_id":"\(id)","category":"ambush","summary":"First account","occurred_at":"2026-11-29T07:00:00Z",
             "location":{"name":"Gao"},"confidence":"low"}
            """)
    }

    @Test func anUpdateOpenLaterThanTheCloseReopens() throws {
        var log = EventLog()
        Self.reported(&log)
        log.add("gao", "incident.closed", sector: "east", at: "2026-11-29T09:00:00Z", #"{"incident_id":"\#(Self.id)"}"#)
        var state = log.folded()
        #expect(int(state.sectorView("east")!, "incidents", "closed") == 1)

        log.add("bamako-hq", "incident.updated", sector: "east", at: "2026-11-29T10:00:00Z",
                #"{"incident_id":"\#(Self.id)","changes":{"status":"open"},"reason":"fighting resumed"}"#)
        state = log.folded()
        #expect(int(state.sectorView("east")!, "incidents", "open") == 1)
        let view = try #require(state.incidentView(id: Self.id, lookup: log.lookup))
        #expect(value(view, "status") == canonicalValue(#"{"event":"bamako-hq:1","value":"open"}"#))
    }

    @Test func aReopenEarlierThanTheCloseLosesWhateverTheArrivalOrder() throws {
        var log = EventLog()
        Self.reported(&log)
        // HQ's reopen is stamped 08:30, gao's close 09:00: the close is the later write.
        log.add("bamako-hq", "incident.updated", sector: "east", at: "2026-11-29T08:30:00Z",
                #"{"incident_id":"\#(Self.id)","changes":{"status":"open"}}"#)
        log.add("gao", "incident.closed", sector: "east", at: "2026-11-29T09:00:00Z", #"{"incident_id":"\#(Self.id)"}"#)
        let gao = log.events.filter { $0.origin == "gao" }
        let hq = log.events.filter { $0.origin == "bamako-hq" }
        for order in [log.events, hq + gao, gao + hq] {
            var state = ProjectionState()
            state.apply(contentsOf: order)
            #expect(int(state.sectorView("east")!, "incidents", "closed") == 1)
            #expect(int(state.sectorView("east")!, "incidents", "open") == 0)
        }
    }

    @Test func eachFieldShowsTheEventThatSetIt() throws {
        var log = EventLog()
        Self.reported(&log)
        log.add("timbuktu", "incident.updated", sector: "east", at: "2026-11-29T09:00:00Z",
                #"{"incident_id":"\#(Self.id)","changes":{"summary":"Second account","confidence":"high"}}"#)
        // Same millisecond and counter as timbuktu's update: the tie goes to the origin name ("gao" < "timbuktu").
        log.add("gao", "incident.updated", sector: "east", at: "2026-11-29T09:00:00Z",
                #"{"incident_id":"\#(Self.id)","changes":{"summary":"Gao's account","category":"complex_attack"}}"#)
        log.add("bamako-hq", "incident.verified", sector: "east", at: "2026-11-29T09:30:00Z",
                #"{"incident_id":"\#(Self.id)","status":"verified"}"#)
        // Whichever origin the node heard of first, the tie goes by name.
        var timbuktuFirst = ProjectionState()
        timbuktuFirst.apply(contentsOf: log.events.filter { $0.origin == "timbuktu" })
        timbuktuFirst.apply(contentsOf: log.events.filter { $0.origin != "timbuktu" })
        for state in [log.folded(), timbuktuFirst] {
        let view = try #require(state.incidentView(id: Self.id, lookup: log.lookup))
        let fields = try #require(value(view, "fields"))
        #expect(fields["summary"] == canonicalValue(#"{"event":"timbuktu:1","value":"Second account"}"#))
        #expect(fields["confidence"] == canonicalValue(#"{"event":"timbuktu:1","value":"high"}"#))
        #expect(fields["category"] == canonicalValue(#"{"event":"gao:2","value":"complex_attack"}"#))
        #expect(fields["location"] == canonicalValue(#"{"event":"gao:1","value":{"name":"Gao"}}"#))
        #expect(fields["occurred_at"] == canonicalValue(#"{"event":"gao:1","value":"2026-11-29T07:00:00Z"}"#))
        #expect(fields["actors"] == nil)
        #expect(value(view, "verification") == canonicalValue(#"{"event":"bamako-hq:1","value":"verified"}"#))
        #expect(value(view, "reported_by") == .string("gao:1"))
        #expect(value(view, "sector") == .string("east"))
        // History in (hlc, origin, seq) order: gao:2 and timbuktu:1 tie on hlc, gao first.
        let history = try #require(value(view, "history")?.arrayValue).map { $0["id"]?.stringValue ?? "" }
        #expect(history == ["gao:1", "gao:2", "timbuktu:1", "bamako-hq:1"])
        #expect(int(state.sectorView("east")!, "incidents", "by_category", "complex_attack", "total") == 1)
        #expect(int(state.sectorView("east")!, "incidents", "by_category", "ambush", "total") == 0)
        }
    }

    @Test func anIncidentCountsInTheSectorOfItsReportWhateverLaterEnvelopesSay() throws {
        var log = EventLog()
        Self.reported(&log)
        log.add("kidal", "incident.updated", sector: "north", at: "2026-11-29T09:00:00Z",
                #"{"incident_id":"\#(Self.id)","changes":{"summary":"seen from Kidal"}}"#)
        let state = log.folded()
        #expect(int(state.sectorView("east")!, "incidents", "total") == 1)
        #expect(int(state.sectorView("north")!, "incidents", "total") == 0)
    }

    @Test func unknownTypesAndUnusableDataAreIgnoredButHeld() throws {
        var log = EventLog()
        Self.reported(&log)
        log.add("gao", "incident.teleported", sector: "east", millis: 1_795_940_000_000, rawData: Array(#"{"incident_id":"\#(Self.id)"}"#.utf8))
        log.add("gao", "casualties.reported", sector: "east", millis: 1_795_940_000_001, rawData: Array("{\"incident_id\":".utf8))
        log.add("gao", "incident.closed", sector: "east", millis: 1_795_940_000_002, rawData: Array("not json at all".utf8))
        log.add("gao", "incident.updated", sector: "east", millis: 1_795_940_000_003, rawData: Array(#"{"incident_id":"\#(Self.id)","changes":{"category":"alien"}}"#.utf8))
        log.add("gao", "incident.reported", sector: "east", millis: 1_795_940_000_004, rawData: Array(#"{"category":"ied"}"#.utf8))
        let state = log.folded()
        let sector = try #require(state.sectorView("east"))
        #expect(int(sector, "incidents", "open") == 1)
        #expect(int(sector, "incidents", "by_category", "ambush", "total") == 1)
        #expect(int(sector, "freshness", "gao", "seq") == 6)
        #expect(state.eventCount == 6)
        // Each fails validation: quarantined, not folded.
        #expect(state.quarantinedCount == 5)
    }

    @Test func randomBytesAsDataNeverCrashTheFold() {
        var rng = SplitMix64(seed: 77)
        print("IncidentStateTests seed 77")
        var log = EventLog()
        let pieces = ["{", "}", "[", "]", "\"", "\\", ":", ",", "incident_id", "changes", "peacekeepers", "killed",
                      "medevac_id", "items", "7", "-1", "99999999999999999999", "\"x\"", " ", "true", "\u{00e9}"]
        for i in 0..<3000 {
            var data: [UInt8] = []
            for _ in 0..<Int(rng.next() % 30) { data += Array(pieces[Int(rng.next() % UInt64(pieces.count))].utf8) }
            if rng.chance(0.3) { data = [UInt8(ascii: "{")] + data + [UInt8(ascii: "}")] }
            log.add("o\(i % 3)", EventType.allCases[Int(rng.next() % 14)].rawValue, sector: "east",
                    millis: 1_795_940_000_000 + Int64(i), rawData: data)
        }
        let state = log.folded()
        _ = state.overview()
        #expect(state.eventCount == 3000)
    }
}

func canonicalValue(_ json: String) -> JSONValue? { try? JSONParser.parse(Array(json.utf8)) }

import Foundation
import IncidentModel
import Projections
import Testing

/// Events that fail validation (unknown sector or type, a payload outside the schema) are stored
/// by their origin's chain but quarantined by the fold: counted, never in a view.
@Suite struct QuarantineTests {
    static let casualties = #"{"civilians":{"killed":0,"missing":0,"wounded":0},"incident_id":"i1","national_forces":{"killed":0,"missing":0,"wounded":0},"peacekeepers":{"killed":0,"missing":0,"wounded":0}}"#
    static let report = #"{"incident_id":"i1","category":"ied","summary":"IED on RN16","occurred_at":"2026-11-29T06:00:00Z","location":{"name":"RN16 km 12"}}"#

    /// The golden log, then a rogue origin's four bad events (and, with `manySectors`, that many
    /// valid-looking reports in distinct unknown sectors).
    static func hostileLog(manySectors: Int = 0) -> (golden: EventLog, all: EventLog) {
        let golden = GoldenLog.make()
        var log = golden
        let at = "2026-11-30T12:05:00Z"
        log.add("rogue", "incident.reported", sector: "mars", at: at, report)
        log.add("rogue", "incident.reported", sector: "", at: at, report.replacingOccurrences(of: "i1", with: "i2"))
        log.add("rogue", "incident.teleported", sector: "east", at: at, #"{"incident_id":"i3"}"#)
        log.add("rogue", "casualties.reported", sector: "east", at: at, casualties.replacingOccurrences(of: #"{"killed":0"#, with: #"{"killed":-500"#))
        for i in 0..<manySectors {
            log.add("rogue", "incident.reported", sector: "s\(i)", at: at, report.replacingOccurrences(of: "i1", with: "x\(i)"))
        }
        return (golden, log)
    }

    @Test func badEventsAreQuarantinedNotFolded() throws {
        let (golden, all) = Self.hostileLog()
        let clean = golden.folded()
        let state = all.folded()
        // Stored and counted by their origin's chain: the vector covers them.
        #expect(state.versionVector["rogue"] == 4)
        #expect(state.eventCount == clean.eventCount + 4)
        // The golden log holds one already (mopti's `weather.reported`, an unknown type).
        #expect(clean.quarantinedCount == 1)
        #expect(state.quarantinedCount == 5)
        #expect(state.quarantineSample.map(\.id) == ["mopti:7", "rogue:1", "rogue:2", "rogue:3", "rogue:4"])
        let reasons = state.quarantineSample.dropFirst().map(\.reason)
        #expect(reasons[0].hasPrefix("sector: unknown sector \"mars\""))
        #expect(reasons[1].hasPrefix("sector: unknown sector \"\""))
        #expect(reasons[2].hasPrefix("type: unknown event type"))
        #expect(reasons[3] == "data.peacekeepers.killed: must not be negative")
        // The views are those of the golden log: no "mars", no "" sector, the same counts.
        let overview = state.overview()
        let names = try #require(value(overview, "sectors")?.arrayValue).map { $0["sector"]?.stringValue ?? "?" }
        #expect(names == Sectors.defaultList)
        #expect(value(overview, "sectors") == value(clean.overview(), "sectors"))
        #expect(value(overview, "mission") == value(clean.overview(), "mission"))
        // The sector views differ only in freshness (the rogue origin was heard from).
        for sector in Sectors.defaultList {
            for part in ["incidents", "casualties", "medevac", "election", "intel", "polling_stations"] {
                #expect(value(state.sectorView(sector)!, part) == value(clean.sectorView(sector)!, part), "\(sector) \(part)")
            }
        }
        #expect(state.sectorView("mars") == nil && state.sectorView("") == nil)
        #expect(try state.incidents(IncidentQuery(), lookup: all.lookup) == clean.incidents(IncidentQuery(), lookup: golden.lookup))
    }

    @Test func thousandsOfUnknownSectorsDoNotGrowTheOverview() throws {
        let (golden, all) = Self.hostileLog(manySectors: 5_000)
        let state = all.folded()
        #expect(state.quarantinedCount == 1 + 5_004)
        #expect(state.quarantineSample.count == ProjectionState.quarantineSampleLimit)
        let clean = golden.folded().overview()
        let overview = state.overview()
        #expect(value(overview, "sectors") == value(clean, "sectors"))
        // Only the freshness entry of the rogue origin is new.
        #expect(overview.count < clean.count + 100, "\(overview.count) bytes against \(clean.count)")
    }

    /// The rebuild (stored lines, prepared in blocks) quarantines exactly what the live fold does,
    /// and a snapshot carries the quarantine over.
    @Test func linesAndSnapshotsQuarantineAlike() throws {
        let (_, all) = Self.hostileLog(manySectors: 20)
        let reference = all.folded()
        let lines = all.events.map(\.line)
        var fromLines = ProjectionState()
        for block in LineFoldAgreementTests.blocks(lines, size: 7) {
            fromLines.apply(try PreparedEvents.prepare(block, sectors: Sectors.defaultList))
        }
        #expect(fromLines.quarantinedCount == reference.quarantinedCount)
        #expect(fromLines.quarantineSample == reference.quarantineSample)
        #expect(fromLines.overview() == reference.overview())

        let loaded = try ProjectionSnapshot.decode(ProjectionSnapshot.encode(reference, logOffset: UInt64(lines.count)))
        #expect(loaded.state.quarantinedCount == reference.quarantinedCount)
        #expect(loaded.state.quarantineSample == reference.quarantineSample)
        #expect(loaded.state.overview() == reference.overview())
    }

    /// Validation depends on the sector list: a snapshot folded with another list is refused
    /// (the node rebuilds), not trusted.
    @Test func snapshotOfAnotherSectorListIsRefused() throws {
        let state = GoldenLog.make().folded()
        let bytes = ProjectionSnapshot.encode(state, logOffset: 0)
        #expect(throws: ProjectionSnapshotError.self) {
            _ = try ProjectionSnapshot.decode(bytes, sectors: ["east", "north"])
        }
        do {
            _ = try ProjectionSnapshot.decode(bytes, sectors: ["east", "north"])
        } catch {
            #expect(error.code == .sectorsChanged)
        }
        #expect(try ProjectionSnapshot.decode(bytes).state.overview() == state.overview())
    }

    /// The same validator as client appends: what `validate(_:)` accepts as a new event, the
    /// stored check accepts, and the reasons agree.
    @Test func storedCheckIsTheAppendCheck() throws {
        let validator = EventValidator()
        for (type, sector, data) in [
            ("incident.reported", "east", Self.report), ("incident.reported", "mars", Self.report),
            ("casualties.reported", "east", Self.casualties.replacingOccurrences(of: #"{"killed":0"#, with: #"{"killed":-1"#)),
            ("nope", "east", "{}"),
        ] {
            let object = try JSONParser.parse(Array(#"{"type":"\#(type)","sector":"\#(sector)","data":\#(data)}"#.utf8))
            let asNew = Self.refusal { () throws(EventValidator.Failure) in _ = try validator.validate(object) }
            let bytes = Array(data.utf8)
            let asStored = Self.refusal { () throws(EventValidator.Failure) in
                try bytes.withUnsafeBufferPointer { buffer throws(EventValidator.Failure) in
                    try validator.validateStored(type: type, sector: sector, data: buffer)
                }
            }
            #expect(asNew == asStored, "\(type) \(sector)")
        }
    }

    static func refusal(_ body: () throws(EventValidator.Failure) -> Void) -> String? {
        do {
            try body()
            return nil
        } catch {
            return error.description
        }
    }
}

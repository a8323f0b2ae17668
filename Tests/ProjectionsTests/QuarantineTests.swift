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

    /// Valid events can name any item: the views list the 50 largest and sum up the rest, so
    /// thousands of item names do not grow them either.
    @Test func thousandsOfItemNamesDoNotGrowTheViews() throws {
        var log = GoldenLog.make()
        let before = log.folded().overview()
        for i in 0..<5_000 {
            log.add(
                "rogue", "election.material.dispatched", sector: "east", at: "2026-11-30T12:05:00Z",
                #"{"consignment_id":"r\#(i)","items":{"item_\#(i)":\#(i + 1)},"to":{"name":"Gao"}}"#)
        }
        let state = log.folded()
        let overview = state.overview()
        #expect(overview.count < before.count + 2 * 50 * 24 + 1_000, "\(overview.count) bytes against \(before.count)")
        let east = try #require(value(overview, "sectors")?.arrayValue?.first { $0["sector"] == .string("east") })
        let listed = try #require(east["election"]?["items_dispatched"]?.objectMembers)
        #expect(listed.count == ProjectionState.itemListLimit)
        // The largest counts are listed, the others summed.
        #expect(listed.contains { $0.key == "item_4999" } && !listed.contains { $0.key == "item_0" })
        let unlisted = try #require(east["election"]?["items_unlisted"]?["dispatched"])
        let inEast = Int64(listed.count) + (unlisted["items"]?.integerValue ?? 0)
        #expect(inEast >= 5_000, "\(east)")
        let sectorView = try #require(state.sectorView("east"))
        #expect(value(sectorView, "election", "items_dispatched")?.objectMembers?.count == ProjectionState.itemListLimit)
        // Views with few items do not change shape.
        #expect(value(before, "mission", "election", "items_unlisted") == nil)
    }

    /// The rebuild (stored lines, prepared in blocks) quarantines exactly what the live fold does,
    /// and a snapshot carries the quarantine over.
    @Test func linesAndSnapshotsQuarantineAlike() throws {
        let (_, all) = Self.hostileLog(manySectors: 20)
        let reference = all.folded()
        let lines = all.events.map(\.line)
        var fromLines = ProjectionState()
        for block in LineFoldAgreementTests.blocks(lines, size: 7) {
            fromLines.apply(try PreparedEvents.prepare(block))
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

    /// One implementation: for generated payloads, valid and invalid, the append path
    /// (`EventValidator.validate` on the client's object) and the fold's quarantine decision on the
    /// stored event (its canonical data, signed by a trusted origin) agree, reason included, on
    /// live folding and on a rebuild from lines alike.
    @Test func theAppendPathAndTheFoldAgreeOnGeneratedPayloads() throws {
        let seed: UInt64 = 0x5eed_0006
        print("QuarantineTests seed \(seed)")
        var rng = SplitMix64(seed: seed)
        let samples = GoldenLog.make().events.compactMap { e -> (String, String, JSONValue)? in
            guard EventType(rawValue: e.type) != nil else { return nil }
            let data = e.line.withUnsafeBufferPointer { try? JSONParser.parse(buffer: UnsafeBufferPointer(rebasing: $0[e.dataRange])) }
            return data.map { (e.type, e.sector, $0) }
        }
        let validator = EventValidator()
        var accepted = 0
        var refused = 0
        var log = EventLog()
        var expected: [String?] = []
        for _ in 0..<3000 {
            var (type, sector, data) = samples[Int(rng.next() % UInt64(samples.count))]
            for _ in 0..<Int(rng.next() % 3) { data = Self.mutate(data, &rng) }
            if rng.chance(0.03) { type = ["incident.teleported", "", "Incident.reported"][Int(rng.next() % 3)] }
            if rng.chance(0.03) { sector = ["mars", "", "East"][Int(rng.next() % 3)] }
            let object = JSONValue.object([("type", .string(type)), ("sector", .string(sector)), ("data", data)])
            let verdict: String?
            do throws(EventValidator.Failure) {
                let event = try validator.validate(object)
                #expect(event.canonicalData == data.canonicalBytes)
                verdict = nil
                accepted += 1
            } catch {
                verdict = String(error.description.prefix(ProjectionState.quarantineReasonLimit))
                refused += 1
            }
            // Refused or not, a trusted origin may sign it: stored as it would be, canonical.
            let event = log.add("rogue", type, sector: sector, millis: 1_795_940_000_000, rawData: data.canonicalBytes)
            expected.append(verdict)
            var live = ProjectionState()
            let quarantined = live.apply(event)
            #expect(quarantined.first?.reason == verdict, "\(type) \(sector) \(String(decoding: data.canonicalBytes, as: UTF8.self))")
        }
        // The generator reaches both outcomes often, so the agreement is not vacuous.
        #expect(accepted > 600 && refused > 600, "accepted \(accepted), refused \(refused)")

        // A rebuild reads the same events as stored lines, in blocks: the same decisions.
        var rebuilt = ProjectionState()
        var fromLines: [QuarantinedEvent] = []
        for block in LineFoldAgreementTests.blocks(log.events.map(\.line), size: 64) {
            fromLines += rebuilt.apply(try PreparedEvents.prepare(block))
        }
        let expectedQuarantine = expected.enumerated().compactMap { i, r in r.map { QuarantinedEvent(id: "rogue:\(i + 1)", reason: $0) } }
        #expect(fromLines == expectedQuarantine)
    }

    /// A payload the append path accepts, spelt another way than canonically (whitespace, another
    /// member order, an escape JSONWriter does not write): no node writes such bytes, and the fold
    /// quarantines them; the same value, canonical, is folded.
    @Test func aPayloadNotInCanonicalFormIsQuarantined() throws {
        let canonical = try JSONParser.parse(Array(Self.report.utf8)).canonicalBytes
        let text = String(decoding: canonical, as: UTF8.self)
        let spellings = [
            text.replacingOccurrences(of: ",", with: ", "),
            #"{"summary":"IED on RN16","category":"ied","incident_id":"i1","location":{"name":"RN16 km 12"},"occurred_at":"2026-11-29T06:00:00Z"}"#,
            text.replacingOccurrences(of: "IED on RN16", with: #"IED on RN16\/A3"#),
            text.replacingOccurrences(of: "IED on RN16", with: #"IED on \u0052N16"#),
            text.replacingOccurrences(of: "IED on RN16", with: #"IED on RN16\u000A"#),
            text.replacingOccurrences(of: #"{"name""#, with: #"{"n\u0061me""#),
            text + " ",
            #"{"zz":1,"# + text.dropFirst(),
            text.replacingOccurrences(of: #""summary""#, with: #""aa":1,"summary""#),
        ]
        var log = EventLog()
        log.add("gao", "incident.reported", sector: "east", millis: 1_795_940_000_000, rawData: canonical)
        for s in spellings {
            // Each parses to a value the append path accepts.
            let value = try JSONParser.parse(Array(s.utf8))
            _ = try EventValidator().validate(data: value, type: .incidentReported)
            log.add("gao", "incident.reported", sector: "east", millis: 1_795_940_000_000, rawData: Array(s.utf8))
        }
        var state = ProjectionState()
        let quarantined = state.apply(contentsOf: log.events)
        #expect(quarantined.map(\.id) == (2...(spellings.count + 1)).map { "gao:\($0)" })
        for q in quarantined { #expect(q.reason.hasPrefix("data: not in canonical form"), "\(q)") }
        #expect(int(state.overview(), "mission", "incidents", "total") == 1)
    }

    /// Replaces, removes or adds one member somewhere in `value`.
    static func mutate(_ value: JSONValue, _ rng: inout SplitMix64) -> JSONValue {
        let replacements: [JSONValue] = [
            .string(""), .string("x"), .string("ied"), .string("open"), .string("2026-11-29T04:00:00Z"),
            .string("2026-11-29T04:00:00+00:00"), .string("2026-02-30T04:00:00Z"), .string("a\"b\n\u{1}"), .string("é"),
            .number("0"), .number("-1"), .number("1"), .number("1.5"), .number("1e2"), .number("-0"), .number("91"),
            .number("-180.5"), .number("90.0000000000000000001"), .number("89.99"), .number("99999999999999999999"),
            .number("-9223372036854775808"), .bool(true), .bool(false), .null, .array([]), .array([.string("a")]),
            .array([.string("")]), .array([.number("1")]), .object([]), .object([("name", .string("x"))]),
            .object([("killed", .number("1"))]), .object([("ballot_boxes", .number("-2"))]),
        ]
        let keys = [
            "incident_id", "category", "summary", "status", "name", "lat", "lon", "killed", "wounded", "items",
            "changes", "location", "actors", "count", "patients", "priority", "zz", "é", "a\"b", "grid",
        ]
        guard case .object(var members) = value else {
            if case .array(var elements) = value, !elements.isEmpty, rng.chance(0.5) {
                elements[Int(rng.next() % UInt64(elements.count))] = replacements[Int(rng.next() % UInt64(replacements.count))]
                return .array(elements)
            }
            return replacements[Int(rng.next() % UInt64(replacements.count))]
        }
        let roll = rng.next() % 10
        if members.isEmpty || roll == 0 {
            let key = keys[Int(rng.next() % UInt64(keys.count))]
            guard !members.contains(where: { $0.key == key }) else { return value }
            members.append((key, replacements[Int(rng.next() % UInt64(replacements.count))]))
            return .object(members)
        }
        let i = Int(rng.next() % UInt64(members.count))
        if roll == 1 {
            members.remove(at: i)
        } else {
            // Deeper half the time, else this member's value replaced.
            let inner = members[i].value
            members[i].value = rng.chance(0.5) ? mutate(inner, &rng) : replacements[Int(rng.next() % UInt64(replacements.count))]
        }
        return .object(members)
    }
}

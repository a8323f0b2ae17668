import Foundation
import IncidentModel
import Projections
import Testing

/// A rough measure of the fold's rate on realistic (~500-byte) events. Only with
/// PROJECTIONS_BENCH=1 (and meaningful only in release: `swift test -c release --filter RebuildRate`).
@Suite struct RebuildRateTests {
    static var enabled: Bool { ProcessInfo.processInfo.environment["PROJECTIONS_BENCH"] == "1" }

    /// Lines shaped like incidentctl's generator: 30% reports, then casualties, updates,
    /// verifications, closures, medevacs, election material, stations and sightings.
    static func lines(count: Int, seed: UInt64) -> [[UInt8]] {
        var rng = SplitMix64(seed: seed)
        var log = EventLog()
        var incidents: [String] = []
        let origins = ["bamako-hq", "gao", "kidal", "timbuktu", "mopti"]
        var wall: UInt64 = 1_796_000_000_000
        func uuid() -> String {
            let a = rng.next(), b = rng.next()
            let h = String(a, radix: 16).leftPadded(16) + String(b, radix: 16).leftPadded(16)
            let c = Array(h)
            return String(c[0..<8]) + "-" + String(c[8..<12]) + "-" + String(c[12..<16]) + "-" + String(c[16..<20]) + "-"
                + String(c[20..<32])
        }
        let location = #"{"name":"Gao road, km 42","lat":16.2717,"lon":-0.0447,"admin1":"Gao","precision":"near"}"#
        let summary = "IED struck the lead vehicle of a logistics convoy; convoy halted and perimeter secured by the escort"
        for _ in 0..<count {
            wall += rng.next() % 5000
            let origin = origins[Int(rng.next() % 5)]
            let sector = Sectors.defaultList[Int(rng.next() % 5)]
            let roll = rng.next() % 100
            let incident = incidents.isEmpty ? "" : incidents[Int(rng.next() % UInt64(incidents.count))]
            var type: String
            var data: String
            if incidents.isEmpty || roll < 30 {
                let id = uuid()
                incidents.append(id)
                type = "incident.reported"
                data = """
                    {"actors":["unidentified armed group"],"category":"\(Vocabulary.incidentCategories[Int(rng.next() % 11)])",\
                    "confidence":"medium","incident_id":"\(id)","location":\(location),\
                    "occurred_at":"\(RFC3339.format(millis: Int64(wall) - 3_600_000))","source":"sector east J2 duty officer",\
                    "summary":"\(summary)","time_precision":"minute"}
                    """
            } else if roll < 40 {
                type = "casualties.reported"
                let c = #"{"killed":\#(rng.next() % 3),"missing":0,"wounded":\#(rng.next() % 5)}"#
                data = #"{"armed_groups":\#(c),"civilians":\#(c),"incident_id":"\#(incident)","national_forces":\#(c),"peacekeepers":\#(c)}"#
            } else if roll < 48 {
                type = "incident.updated"
                data = #"{"changes":{"confidence":"high","summary":"\#(summary) (updated after debrief)"},"incident_id":"\#(incident)","reason":"patrol debrief received"}"#
            } else if roll < 53 {
                type = "incident.verified"
                data = #"{"basis":"confirmed by two independent sources and imagery","incident_id":"\#(incident)","status":"verified"}"#
            } else if roll < 58 {
                type = "incident.closed"
                data = #"{"incident_id":"\#(incident)","reason":"site cleared"}"#
            } else if roll < 60 {
                type = "incident.retracted"
                data = #"{"incident_id":"\#(incident)","reason":"duplicate"}"#
            } else if roll < 75 {
                type = ["medevac.requested", "medevac.dispatched", "medevac.completed"][Int(rng.next() % 3)]
                data = #"{"incident_id":"\#(incident)","medevac_id":"m-\#(rng.next() % 50_000)","patients":2,"pickup":\#(location),"priority":"urgent","asset":"CASEVAC helicopter 2","outcome":"delivered"}"#
            } else if roll < 84 {
                type = rng.next() % 2 == 0 ? "election.material.dispatched" : "election.material.delivered"
                data = #"{"consignment_id":"c-\#(rng.next() % 40_000)","items":{"ballot_boxes":20,"ballot_papers":5000,"tally_sheets":60},"mode":"road","seals_intact":true,"to":\#(location)}"#
            } else if roll < 88 {
                type = "election.personnel.moved"
                data = #"{"count":\#(rng.next() % 30 + 1),"role":"polling staff","to":\#(location)}"#
            } else if roll < 93 {
                type = "polling_station.status"
                data = #"{"location":\#(location),"name":"Gao centre","station_id":"GAO-\#(rng.next() % 900)","status":"\#(Vocabulary.pollingStationStatuses[Int(rng.next() % 5)])"}"#
            } else {
                type = "intel.sighting"
                data = #"{"confidence":"medium","kind":"\#(Vocabulary.sightingKinds[Int(rng.next() % 4)])","location":\#(location),"sighting_id":"\#(uuid())","source":"uav"}"#
            }
            log.add(origin, type, sector: sector, millis: Int64(wall), data)
        }
        return log.events.map(\.line)
    }

    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * 4096 : 0
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    @Test(.enabled(if: RebuildRateTests.enabled)) func foldRate() throws {
        let count = Int(ProcessInfo.processInfo.environment["PROJECTIONS_BENCH_COUNT"] ?? "") ?? 1_000_000
        let lines = Self.lines(count: count, seed: 1)
        let bytes = lines.reduce(0) { $0 + $1.count + 1 }
        let clock = ContinuousClock()
        var events: [Event] = []
        events.reserveCapacity(count)
        let parseTime = try clock.measure {
            for line in lines { events.append(try Event.parse(line: line)) }
        }
        let rssBefore = Self.residentBytes()
        var state = ProjectionState()
        let cpuBefore = Self.threadCPUSeconds()
        let foldTime = clock.measure { state.apply(contentsOf: events) }
        let foldCPU = Self.threadCPUSeconds() - cpuBefore
        print("RebuildRate: fold \(Int(Double(count) / foldCPU))/s of thread CPU time (the machine's load aside)")
        print("RebuildRate: the folded state added \((Self.residentBytes() - rssBefore) >> 20) MB of RSS")
        // PROJECTIONS_BENCH_FOLDS=n folds n more times, so that a profiler sees mostly the fold.
        let extra = Int(ProcessInfo.processInfo.environment["PROJECTIONS_BENCH_FOLDS"] ?? "") ?? 0
        for _ in 0..<extra {
            var again = ProjectionState()
            let c0 = Self.threadCPUSeconds()
            again.apply(contentsOf: events)
            print("RebuildRate: fold again \(Int(Double(count) / (Self.threadCPUSeconds() - c0)))/s of thread CPU time")
        }
        func rate(_ d: Duration) -> Int { Int(Double(count) / (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18)) }
        print("""
            RebuildRate: \(count) events, \(bytes / count) bytes/event; parse \(rate(parseTime))/s, \
            fold \(rate(foldTime))/s, parse+fold \(rate(parseTime + foldTime))/s; \
            \(state.eventCount) folded, overview \(state.overview().count) bytes
            """)
        let snapshotTime = clock.measure { _ = ProjectionSnapshot.encode(state, logOffset: 0) }
        let encoded = ProjectionSnapshot.encode(state, logOffset: 0)
        let loadTime = try clock.measure { _ = try ProjectionSnapshot.decode(encoded) }
        print("RebuildRate: snapshot \(encoded.count) bytes, encode \(snapshotTime), decode \(loadTime)")
    }
}

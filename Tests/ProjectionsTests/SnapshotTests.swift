import Foundation
import IncidentModel
import Projections
import Testing

/// Snapshots: save → load gives the same views, folding on after a load is folding everything,
/// and a damaged or foreign snapshot is refused so the caller rebuilds from the log.
@Suite struct SnapshotTests {
    static func views(_ s: ProjectionState, _ log: EventLog, ids: [String]) -> [(name: String, bytes: [UInt8])] {
        AllViews.collect(s, incidentIDs: ids, lookup: log.lookup)
    }

    @Test func loadedStateGivesByteIdenticalViews() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/projections.snapshot"
        for (log, ids) in [(GoldenLog.make(), [GoldenLog.i1, GoldenLog.i5, GoldenLog.i6, GoldenLog.i7]),
                           (RandomHistory.make(seed: 41, events: 600), RandomHistory(seed: 41).incidentIDs)] {
            let state = log.folded()
            try ProjectionSnapshot.write(state, logOffset: UInt64(log.events.count), to: path)
            #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
            let loaded = try ProjectionSnapshot.load(from: path)
            #expect(loaded.logOffset == UInt64(log.events.count))
            #expect(loaded.versionVector == state.versionVector)
            #expect(loaded.state.eventCount == state.eventCount)
            let difference = ConvergenceTests.firstDifference(Self.views(state, log, ids: ids), Self.views(loaded.state, log, ids: ids))
            #expect(difference == nil, "\(difference ?? "")")
        }
    }

    @Test(arguments: [0, 1, 137, 300, 599])
    func foldingOnAfterALoadEqualsFoldingEverything(split: Int) throws {
        print("SnapshotTests seed 42")
        let log = RandomHistory.make(seed: 42, events: 600)
        let ids = RandomHistory(seed: 42).incidentIDs
        var first = ProjectionState()
        first.apply(contentsOf: log.events[..<split])
        let bytes = ProjectionSnapshot.encode(first, logOffset: UInt64(split))
        var resumed = try ProjectionSnapshot.decode(bytes).state
        // Replaying a few events the snapshot already covers (the caller restarts a little
        // early) changes nothing; then the rest.
        resumed.apply(contentsOf: log.events[max(0, split - 20)...])
        let all = log.folded()
        #expect(resumed.eventCount == all.eventCount)
        #expect(resumed.versionVector == all.versionVector)
        let difference = ConvergenceTests.firstDifference(Self.views(all, log, ids: ids), Self.views(resumed, log, ids: ids))
        #expect(difference == nil, "split \(split): \(difference ?? "")")
    }

    @Test func onlyEventsNewerThanTheSnapshotAreFolded() throws {
        let log = GoldenLog.make()
        var first = ProjectionState()
        first.apply(contentsOf: log.events[..<30])
        var resumed = try ProjectionSnapshot.decode(ProjectionSnapshot.encode(first, logOffset: 30)).state
        let before = resumed.eventCount
        resumed.apply(contentsOf: log.events)
        #expect(resumed.eventCount - before == UInt64(log.events.count - 30))
        #expect(resumed.overview() == log.folded().overview())
    }

    static func refusal(_ bytes: [UInt8]) -> ProjectionSnapshotError.Code? {
        do {
            _ = try ProjectionSnapshot.decode(bytes)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func aCorruptedByteAnywhereIsRefused() throws {
        let bytes = ProjectionSnapshot.encode(GoldenLog.make().folded(), logOffset: 41)
        #expect(Self.refusal(bytes) == nil)
        var rng = SplitMix64(seed: 9)
        // Every header byte, and a sample of payload bytes.
        let positions = Array(0..<56) + (0..<300).map { _ in 56 + Int(rng.next() % UInt64(bytes.count - 56)) }
        for i in positions {
            var damaged = bytes
            damaged[i] ^= 1 << UInt8(rng.next() % 8)
            let code = Self.refusal(damaged)
            #expect(code != nil, "flipped byte \(i) accepted")
            if i >= 56 { #expect(code == .checksumMismatch, "byte \(i)") }
        }
        #expect(Self.refusal(Array(bytes.dropLast())) == .checksumMismatch)
        #expect(Self.refusal(bytes + [0]) == .checksumMismatch)
        #expect(Self.refusal([]) == .notASnapshot)
    }

    @Test func aSnapshotOfAnotherFormatVersionIsRefused() throws {
        var bytes = ProjectionSnapshot.encode(GoldenLog.make().folded(), logOffset: 41)
        let other = ProjectionSnapshot.formatVersion + 1
        for k in 0..<4 { bytes[8 + k] = UInt8(truncatingIfNeeded: other >> (8 * UInt32(k))) }
        #expect(Self.refusal(bytes) == .versionMismatch)
    }

    @Test func aDamagedFileOnDiskIsRefusedAndAMissingOneSaysSo() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/projections.snapshot"
        do {
            _ = try ProjectionSnapshot.load(from: path)
            Issue.record("loaded a snapshot that does not exist")
        } catch {
            #expect(error.code == .notFound)
        }
        try ProjectionSnapshot.write(GoldenLog.make().folded(), logOffset: 41, to: path)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        do {
            _ = try ProjectionSnapshot.load(from: path)
            Issue.record("loaded a damaged snapshot")
        } catch {
            #expect(error.code == .checksumMismatch)
        }
        // A new write replaces it whole.
        try ProjectionSnapshot.write(GoldenLog.make().folded(), logOffset: 41, to: path)
        #expect(try ProjectionSnapshot.load(from: path).logOffset == 41)
    }
}

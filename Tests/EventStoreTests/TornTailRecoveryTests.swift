import EventStore
import Foundation
import IncidentModel
import Testing

/// A crash during a write leaves the newest segment with a partial last record; recovery cuts it,
/// keeps a copy, and the store carries on from the last complete record.
@Suite struct TornTailRecoveryTests {
    static let segment = "00000000000000000000.jsonl"

    /// Writes four events and returns the intact bytes of the first three and the fourth's line.
    static func sourceLog() async throws -> (identity: NodeIdentity, intact: [UInt8], last: [UInt8], records: [[UInt8]]) {
        try await StoreHarness.with { source in
            let store = try source.open()
            for n in 1...4 { _ = try await store.append([pending(n)]) }
            await store.close()
            let full = source.bytes(ofSegment: segment)
            let records = lines(of: full)
            let last = try #require(records.last)
            return (source.identity, Array(full[..<last.start]), last.line, records.map(\.line))
        }
    }

    @Test func tornTailIsTruncatedOnOpenAtEveryBytePositionOfTheLastRecord() async throws {
        let (identity, intact, last, records) = try await Self.sourceLog()
        // `kept` bytes of the last record survived the crash; its newline never did.
        for kept in 0...last.count {
            let tail = Array(last.prefix(kept))
            let ok = try await StoreHarness.with(identity: identity) { h in
                try FileManager.default.createDirectory(atPath: h.segmentsDirectory, withIntermediateDirectories: true)
                h.write(intact + tail, toSegment: Self.segment)

                let store = try h.open()
                var ok = true
                func check(_ condition: Bool, _ what: String) {
                    if !condition {
                        Issue.record("kept \(kept) of \(last.count) bytes: \(what)")
                        ok = false
                    }
                }
                check(store.count == 3, "count \(store.count)")
                check(store.versionVector == VersionVector(["gao": 3]), "version vector \(store.versionVector)")
                check(h.fileSize(ofSegment: Self.segment) == intact.count, "segment not cut back to the last record")
                let brokenPath = h.segmentsDirectory + "/" + Self.segment + ".broken"
                let cutLogs = h.logs.records(withMessage: "torn tail cut from the newest segment")
                if kept > 0 {
                    check(FileManager.default.contents(atPath: brokenPath).map(Array.init) == tail, ".broken does not hold the cut bytes")
                    check(cutLogs.count == 1 && cutLogs[0].level == .warning, "no warning about the cut")
                    check(cutLogs.first?.metadata["store.cut_from"] == "\(intact.count)", "cut_from not logged")
                    check(cutLogs.first?.metadata["store.cut_bytes"] == "\(kept)", "cut_bytes not logged")
                } else {
                    check(!FileManager.default.fileExists(atPath: brokenPath), "a .broken file for a clean end")
                    check(cutLogs.isEmpty, "a cut logged for a clean end")
                }

                let ack = try await store.append([pending(99)])
                check(ack.map(\.id) == ["gao:4"], "the next append is \(ack.map(\.id))")
                let events = try store.read(from: 0, limit: 10)
                check(events.prefix(3).map(\.line) == Array(records.prefix(3)), "the kept records changed")
                check(chainBreak(events) == nil, "chain broken: \(chainBreak(events) ?? "")")
                await store.close()

                let reopened = try h.open()
                check(reopened.count == 4, "after reopening: count \(reopened.count)")
                await reopened.close()
                check(
                    h.segmentDirectoryListing() == (kept > 0 ? [Self.segment, Self.segment + ".broken"] : [Self.segment]),
                    "files \(h.segmentDirectoryListing())")
                return ok
            }
            if !ok { return }  // one position's report is enough
        }
    }

    @Test func completeLastRecordThatFailsItsHashIsRefusedNotCut() async throws {
        // A complete line was written whole: it may be an acknowledged event that peers hold, so
        // cutting it would let the node reuse its seq. Only an incomplete line is a torn write.
        let (identity, intact, last, _) = try await Self.sourceLog()
        try await StoreHarness.with(identity: identity) { h in
            try FileManager.default.createDirectory(atPath: h.segmentsDirectory, withIntermediateDirectories: true)
            var damaged = last
            damaged[try #require(position(of: "test 4", in: last))] ^= 0x01
            let bytes = intact + damaged + [UInt8(ascii: "\n")]
            h.write(bytes, toSegment: Self.segment)
            let error = h.openError()
            #expect(error?.code == .corrupt)
            #expect(error?.message.contains("\(h.segmentsDirectory)/\(Self.segment)") == true)
            #expect(error?.message.contains("corrupt record at byte offset \(intact.count):") == true)
            #expect(h.bytes(ofSegment: Self.segment) == bytes)
            #expect(h.segmentDirectoryListing() == [Self.segment])
        }
    }

    @Test func zerosAfterTheLastRecordAreTheReservedTailNotATornOne() async throws {
        // A killed node leaves its reserved tail; some file systems also show a crashed append
        // as a block of zeros. Neither is data: nothing is cut, and writing goes on after the data.
        let (identity, intact, last, _) = try await Self.sourceLog()
        try await StoreHarness.with(identity: identity) { h in
            try FileManager.default.createDirectory(atPath: h.segmentsDirectory, withIntermediateDirectories: true)
            let data = intact + last + [UInt8(ascii: "\n")]
            h.write(data + [UInt8](repeating: 0, count: 4096), toSegment: Self.segment)
            let store = try h.open()
            #expect(store.count == 4)
            #expect(store.dataBytes == UInt64(data.count))
            #expect(h.fileSize(ofSegment: Self.segment) == data.count + 4096)
            #expect(!FileManager.default.fileExists(atPath: h.segmentsDirectory + "/" + Self.segment + ".broken"))
            #expect(h.logs.records(withMessage: "torn tail cut from the newest segment").isEmpty)
            #expect(try await store.append([pending(5)]).map(\.id) == ["gao:5"])
            await store.close()
            let after = h.bytes(ofSegment: Self.segment)
            #expect(Array(after.prefix(data.count)) == data)
            #expect(lines(of: after).count == 5 && after.last == UInt8(ascii: "\n") && !after.contains(0))
        }
    }

    @Test func aSecondTornTailKeepsTheFirstCopy() async throws {
        let (identity, intact, last, _) = try await Self.sourceLog()
        try await StoreHarness.with(identity: identity) { h in
            try FileManager.default.createDirectory(atPath: h.segmentsDirectory, withIntermediateDirectories: true)
            h.write(intact + Array(last.prefix(10)), toSegment: Self.segment)
            let first = try h.open()
            await first.close()
            let bytes = h.bytes(ofSegment: Self.segment)
            h.write(bytes + Array(last.prefix(20)), toSegment: Self.segment)
            let store = try h.open()
            #expect(store.count == 3)
            let broken = h.segmentsDirectory + "/" + Self.segment + ".broken"
            #expect(FileManager.default.contents(atPath: broken).map(Array.init) == Array(last.prefix(10)))
            #expect(FileManager.default.contents(atPath: broken + ".1").map(Array.init) == Array(last.prefix(20)))
            await store.close()
        }
    }
}

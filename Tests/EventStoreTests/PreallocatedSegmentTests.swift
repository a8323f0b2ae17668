@preconcurrency import Crypto
import EventStore
import Foundation
import IncidentModel
import Testing

/// The newest segment's reserved tail of zeros (SegmentFormat.swift, "Reserved tail"): written
/// ahead of the data, cut when the segment is sealed or the store closes, never read as data, and
/// told apart from a torn write by recovery.
@Suite struct PreallocatedSegmentTests {
    static let segment = "00000000000000000000.jsonl"

    /// A small reserve, so that the tests below write kilobytes of zeros, not megabytes; no sync,
    /// since they judge the files recovery finds, not what a sync made durable.
    static var options: StoreOptions {
        var options = StoreOptions()
        options.preallocationBytes = 16 << 10
        options.fsync = .never
        return options
    }

    /// The end of `bytes` once its trailing zeros are dropped.
    static func dataEnd(_ bytes: [UInt8]) -> Int {
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0 { end -= 1 }
        return end
    }

    /// Four events appended one commit each to a store that stays open (a crash image, as a kill
    /// leaves it): the intact bytes of the first three, the fourth's line, the file as a whole.
    static func crashImage() async throws -> (identity: NodeIdentity, intact: [UInt8], last: [UInt8], file: [UInt8]) {
        try await StoreHarness.with(options: options) { source in
            let store = try source.open()
            for n in 1...4 { _ = try await store.append([pending(n)]) }
            let file = source.bytes(ofSegment: segment)
            await store.close()
            let data = Array(file[..<dataEnd(file)])
            let last = try #require(lines(of: data).last)
            return (source.identity, Array(data[..<last.start]), last.line, file)
        }
    }

    @Test func theActiveSegmentRunsAheadInZerosAndSealedOrClosedSegmentsEndWithTheirLastLine() async throws {
        var options = StoreOptions()
        options.preallocationBytes = 64 << 10
        options.segmentBytes = 1 << 20
        try await StoreHarness.with(options: options) { h in
            let store = try h.open()
            _ = try await store.append([pending(1)])
            var file = h.bytes(ofSegment: Self.segment)
            let firstData = Self.dataEnd(file)
            #expect(UInt64(firstData) == store.dataBytes)
            #expect(file.count == firstData + (64 << 10), "the reserve is \(file.count - firstData) bytes")
            // A commit inside the reserve leaves the file's size alone.
            _ = try await store.append([pending(2)])
            file = h.bytes(ofSegment: Self.segment)
            #expect(file.count == firstData + (64 << 10))
            #expect(UInt64(Self.dataEnd(file)) == store.dataBytes)
            let data = Self.dataEnd(file)
            #expect(lines(of: Array(file[..<data])).count == 2)
            await store.close()
            #expect(h.fileSize(ofSegment: Self.segment) == data, "a closed store keeps its reserve")
        }
        // A segment sealed by a roll loses its reserve before the next is created; the reserve
        // never runs past the segment size limit.
        options.segmentBytes = 2_000
        try await StoreHarness.with(options: options) { h in
            let store = try h.open()
            var n = 0
            while h.segmentNames().count < 3 {
                n += 1
                _ = try await store.append([pending(n)])
                let newest = try #require(h.segmentNames().last)
                let file = h.bytes(ofSegment: newest)
                #expect(file.count == max(2_000, Self.dataEnd(file)), "event \(n): \(newest) is \(file.count) bytes")
            }
            for sealed in h.segmentNames().dropLast() {
                let file = h.bytes(ofSegment: sealed)
                #expect(file.last == UInt8(ascii: "\n") && !file.contains(0), "\(sealed) keeps zeros after sealing")
            }
            #expect(try store.read(from: 0, limit: 100).count == n)
            await store.close()
        }
    }

    @Test func aCutAtEveryByteOfTheLastLineWithTheZeroTailBehindItIsATornTail() async throws {
        let (identity, intact, last, file) = try await Self.crashImage()
        #expect(file.count > intact.count + last.count + 1, "the source segment has no reserved tail")
        // `kept` bytes of the last line reached the disk, then zeros up to the reserve's end, plus
        // a few more or fewer so that the tail's length varies too.
        for kept in 0...last.count {
            let zeros = file.count - intact.count - kept + [0, -1, 4099][kept % 3]
            let tail = Array(last.prefix(kept))
            let ok = try await StoreHarness.with(options: Self.options, identity: identity) { h in
                try FileManager.default.createDirectory(atPath: h.segmentsDirectory, withIntermediateDirectories: true)
                h.write(intact + tail + [UInt8](repeating: 0, count: zeros), toSegment: Self.segment)
                var ok = true
                func check(_ condition: Bool, _ what: String) {
                    if !condition {
                        Issue.record("kept \(kept) of \(last.count) bytes, \(zeros) zeros: \(what)")
                        ok = false
                    }
                }
                let store = try h.open()
                check(store.count == 3, "count \(store.count)")
                check(store.dataBytes == UInt64(intact.count), "data bytes \(store.dataBytes)")
                let broken = FileManager.default.contents(atPath: h.segmentsDirectory + "/" + Self.segment + ".broken").map(Array.init)
                let cutLogs = h.logs.records(withMessage: "torn tail cut from the newest segment")
                if kept > 0 {
                    check(broken == tail, ".broken holds \(broken?.count ?? 0) bytes, not the torn line's \(kept)")
                    check(cutLogs.first?.metadata["store.cut_bytes"] == "\(kept)", "cut_bytes not the torn line's")
                    check(h.fileSize(ofSegment: Self.segment) == intact.count, "segment not cut back to the last line")
                } else {
                    check(broken == nil, "a .broken file for zeros after the last line")
                    check(cutLogs.isEmpty, "a cut logged for zeros after the last line")
                    check(h.fileSize(ofSegment: Self.segment) == intact.count + zeros, "the reserve was not kept")
                }
                let ack = try await store.append([pending(99)])
                check(ack.map(\.id) == ["gao:4"], "the next append is \(ack.map(\.id))")
                let events = try store.read(from: 0, limit: 10)
                check(events.count == 4 && chainBreak(events) == nil, "read back \(events.count), chain \(chainBreak(events) ?? "ok")")
                let open = h.bytes(ofSegment: Self.segment)
                check(Array(open[..<intact.count]) == intact, "the kept lines changed")
                check(!open[..<Self.dataEnd(open)].contains(0), "the new line is not right after the data")
                await store.close()
                let reopened = try h.open()
                check(reopened.count == 4, "after reopening: count \(reopened.count)")
                await reopened.close()
                return ok
            }
            if !ok { return }
        }
    }

    @Test func aCompleteLineHoldingZerosIsTornUnlessAValidLineFollows() async throws {
        let (identity, intact, last, _) = try await Self.crashImage()
        // A crash kept the end of the last commit's line but not a block before it.
        var holed = last
        for i in 10..<40 { holed[i] = 0 }
        try await StoreHarness.with(options: Self.options, identity: identity) { h in
            try FileManager.default.createDirectory(atPath: h.segmentsDirectory, withIntermediateDirectories: true)
            h.write(intact + holed + [UInt8(ascii: "\n")] + [UInt8](repeating: 0, count: 4096), toSegment: Self.segment)
            let store = try h.open()
            #expect(store.count == 3)
            #expect(h.fileSize(ofSegment: Self.segment) == intact.count)
            let broken = FileManager.default.contents(atPath: h.segmentsDirectory + "/" + Self.segment + ".broken").map(Array.init)
            #expect(broken == holed + [UInt8(ascii: "\n")])
            #expect(h.logs.records(withMessage: "torn tail cut from the newest segment").first?.metadata["store.reason"].map { "\($0)".contains("zero bytes") } == true)
            #expect(try await store.append([pending(99)]).map(\.id) == ["gao:4"])
            await store.close()
        }
        // A valid line after it: corruption, as after any other bad line.
        try await StoreHarness.with(options: Self.options, identity: identity) { h in
            try FileManager.default.createDirectory(atPath: h.segmentsDirectory, withIntermediateDirectories: true)
            let bytes = intact + holed + [UInt8(ascii: "\n")] + last + [UInt8(ascii: "\n")] + [UInt8](repeating: 0, count: 100)
            h.write(bytes, toSegment: Self.segment)
            let error = h.openError()
            #expect(error?.code == .corrupt)
            #expect(error?.message.contains("not a torn tail") == true, "\(error?.message ?? "")")
            #expect(h.bytes(ofSegment: Self.segment) == bytes)
        }
    }

    @Test func aCopyWithAZeroTailVerifiesAndCountsOnlyItsData() async throws {
        let (identity, intact, last, _) = try await Self.crashImage()
        let file = intact + last + [UInt8(ascii: "\n")] + [UInt8](repeating: 0, count: 5000)
        let dir = NSTemporaryDirectory() + "incidentlog-copy-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/segments", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(file).write(to: URL(fileURLWithPath: dir + "/segments/" + Self.segment))
        let verified = try EventStore.verifyCopy(directory: dir, keys: [StoreHarness.nodeID: identity.publicKey])
        #expect(verified.events == 4)
        #expect(verified.bytes == UInt64(intact.count + last.count + 1))
        #expect(FileManager.default.contents(atPath: dir + "/segments/" + Self.segment).map(Array.init) == file)
    }
}

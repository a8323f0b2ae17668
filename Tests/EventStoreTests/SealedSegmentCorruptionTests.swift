import EventStore
import IncidentModel
import Testing
import Foundation

/// What a damaged line cannot explain still stops the open, naming the file and the record: a
/// line whose hash matches but that breaks its origin's chain (not a flipped bit: those fail the
/// hash, and DamagedSegmentRepairTests covers them), or a segment missing from the middle.
@Suite struct SealedSegmentCorruptionTests {
    static func options() -> StoreOptions {
        var options = StoreOptions()
        options.segmentBytes = 600
        return options
    }

    @Test func validRecordOutOfItsChainInASealedSegmentStopsTheOpen() async throws {
        try await StoreHarness.with(options: Self.options()) { h in
            let store = try h.open()
            for n in 1...8 { _ = try await store.append([pending(n)]) }
            await store.close()
            let names = h.segmentNames()
            try #require(names.count >= 3)
            let sealed = names[1]
            let original = h.bytes(ofSegment: sealed)
            let records = lines(of: original)
            try #require(records.count >= 2)
            // The two records swapped: each verifies on its own, neither follows its chain.
            let swapped = records[1].line + [0x0A] + records[0].line + [0x0A] + Array(original[(records[1].start + records[1].line.count + 1)...])
            h.write(swapped, toSegment: sealed)
            let error = h.openError()
            #expect(error?.code == .corrupt)
            #expect(error?.message.contains("\(h.segmentsDirectory)/\(sealed)") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("corrupt record at byte offset \(records[0].start):") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("out of order") == true, "\(error?.message ?? "")")
            // The refused open changed nothing; restored, the store opens.
            h.write(original, toSegment: sealed)
            #expect(h.segmentDirectoryListing() == names)
            let intact = try h.open()
            #expect(intact.count == 8)
            #expect(intact.damage.isEmpty)
            await intact.close()
        }
    }

    /// A sealed segment cut short has lost its last line's end: that line is damaged (its event
    /// missing until repaired), not a torn write to cut.
    @Test func truncatedSealedSegmentOpensWithItsLastEventMissing() async throws {
        try await StoreHarness.with(options: Self.options()) { h in
            let store = try h.open()
            for n in 1...6 { _ = try await store.append([pending(n)]) }
            await store.close()
            let names = h.segmentNames()
            try #require(names.count >= 2)
            let bytes = h.bytes(ofSegment: names[0])
            let records = lines(of: bytes)
            let last = try Event.parse(line: records.last!.line)
            h.write(Array(bytes.dropLast(5)), toSegment: names[0])
            let open = try h.open()
            #expect(open.damage.segments.map(\.name) == [names[0]])
            #expect(open.damage.segments.first?.missing == [last.id])
            #expect(open.damage.segments.first?.byteRanges == [UInt64(records.last!.start)..<UInt64(bytes.count - 5)])
            #expect(open.count == 6)
            await open.close()
            // Nothing is cut from a sealed segment.
            #expect(h.fileSize(ofSegment: names[0]) == bytes.count - 5)
        }
    }

    @Test func segmentMissingFromTheMiddleIsRefused() async throws {
        try await StoreHarness.with(options: Self.options()) { h in
            let store = try h.open()
            for n in 1...8 { _ = try await store.append([pending(n)]) }
            await store.close()
            let names = h.segmentNames()
            try #require(names.count >= 3)
            try FileManager.default.removeItem(atPath: h.segmentsDirectory + "/" + names[1])
            let error = h.openError()
            #expect(error?.code == .corrupt)
            #expect(error?.message.contains(names[2]) == true)
        }
    }

    /// A refused open closes the descriptors it opened for the segments before the bad one.
    @Test func refusedOpenLeaksNoDescriptors() async throws {
        try await StoreHarness.with(options: Self.options()) { h in
            let store = try h.open()
            for n in 1...10 { _ = try await store.append([pending(n)]) }
            await store.close()
            let names = h.segmentNames()
            try #require(names.count >= 4)
            let bad = names[names.count - 2]  // every segment before it is opened first
            // Valid records of another place in the log: out of their chain, which no damage explains.
            h.write(h.bytes(ofSegment: names[0]), toSegment: bad)
            func openDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0 }
            let before = openDescriptors()
            for _ in 0..<200 { #expect(h.openError()?.code == .corrupt) }
            // Without the close, each refused open leaves names.count - 2 descriptors behind
            // (400 or more here); other tests running meanwhile move the count by a few dozen.
            #expect(openDescriptors() - before < 100, "descriptors before \(before), after \(openDescriptors())")
        }
    }
}

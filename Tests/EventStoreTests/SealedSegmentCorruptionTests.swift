import EventStore
import IncidentModel
import Testing
import Foundation

/// Damage anywhere but the tail of the newest segment cannot be a torn write: the store refuses
/// to open and says which file and which record, rather than serve a log it cannot vouch for.
@Suite struct SealedSegmentCorruptionTests {
    static func options() -> StoreOptions {
        var options = StoreOptions()
        options.segmentBytes = 600
        return options
    }

    @Test func flippedBitInASealedSegmentStopsTheOpenNamingTheFileAndTheRecordOffset() async throws {
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
            // The second record, so that the offset in the message is not trivially 0.
            let target = records[1]
            // Recovery checks syntax, hash and chain; the signature is not covered by the hash,
            // and recovery does not verify signatures, so its base64 is left out.
            let sigStart = position(of: #","sig":""#, in: target.line).map { $0 + 8 }
            let masks: [UInt8] = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80]
            for i in 0...target.line.count where sigStart == nil || i < sigStart! || i >= target.line.count - 2 {
                var damaged = original
                damaged[target.start + i] ^= masks[i % masks.count]
                h.write(damaged, toSegment: sealed)
                let error = h.openError()
                let where_ = "bit flipped at byte \(i) of the record"
                #expect(error?.code == .corrupt, "\(where_)")
                #expect(error?.message.contains("\(h.segmentsDirectory)/\(sealed)") == true, "\(where_): \(error?.message ?? "")")
                #expect(error?.message.contains("corrupt record at byte offset \(target.start):") == true, "\(where_): \(error?.message ?? "")")
                if error?.code != .corrupt { break }
            }
            // The refused opens changed nothing; with the byte restored the store opens.
            h.write(original, toSegment: sealed)
            #expect(h.segmentDirectoryListing() == names)
            let intact = try h.open()
            #expect(intact.count == 8)
            await intact.close()
        }
    }

    @Test func truncatedSealedSegmentIsRefused() async throws {
        try await StoreHarness.with(options: Self.options()) { h in
            let store = try h.open()
            for n in 1...6 { _ = try await store.append([pending(n)]) }
            await store.close()
            let names = h.segmentNames()
            try #require(names.count >= 2)
            let bytes = h.bytes(ofSegment: names[0])
            let records = lines(of: bytes)
            h.write(Array(bytes.dropLast(5)), toSegment: names[0])
            let error = h.openError()
            #expect(error?.code == .corrupt)
            #expect(error?.message.contains(names[0]) == true)
            #expect(error?.message.contains("byte offset \(records.last!.start):") == true)
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
            var damaged = h.bytes(ofSegment: bad)
            damaged[2] ^= 0x01
            h.write(damaged, toSegment: bad)
            func openDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0 }
            let before = openDescriptors()
            for _ in 0..<200 { #expect(h.openError()?.code == .corrupt) }
            // Without the close, each refused open leaves names.count - 2 descriptors behind
            // (400 or more here); other tests running meanwhile move the count by a few dozen.
            #expect(openDescriptors() - before < 100, "descriptors before \(before), after \(openDescriptors())")
        }
    }
}

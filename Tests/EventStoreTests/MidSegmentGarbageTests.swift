import EventStore
import Foundation
import IncidentModel
import Testing

/// Damage in the newest segment followed by valid records is not a torn write (an acknowledged
/// record follows it): the open fails and nothing is cut.
@Suite struct MidSegmentGarbageTests {
    enum Damage: String, CaseIterable, Sendable {
        /// The second record overwritten with text, its newline kept.
        case overwrittenRecord
        /// The second record and its newline zeroed.
        case zeroedRecord
        /// A line of garbage inserted before the second record.
        case insertedLine
        /// One bit of the second record's data flipped.
        case flippedBit
    }

    @Test(arguments: Damage.allCases)
    func damageFollowedByValidRecordsIsRefusedAndNotTruncated(damage: Damage) async throws {
        try await StoreHarness.with { h in
            let store = try h.open()
            for n in 1...6 { _ = try await store.append([pending(n)]) }
            await store.close()
            let name = try #require(h.segmentNames().first)
            var bytes = h.bytes(ofSegment: name)
            let target = lines(of: bytes)[1]
            switch damage {
            case .overwrittenRecord:
                bytes.replaceSubrange(target.start..<(target.start + target.line.count),
                                      with: [UInt8](repeating: UInt8(ascii: "x"), count: target.line.count))
            case .zeroedRecord:
                bytes.replaceSubrange(target.start...(target.start + target.line.count),
                                      with: [UInt8](repeating: 0, count: target.line.count + 1))
            case .insertedLine:
                bytes.insert(contentsOf: Array("garbage\n".utf8), at: target.start)
            case .flippedBit:
                bytes[target.start + target.line.count - 100] ^= 0x02
            }
            h.write(bytes, toSegment: name)

            let error = h.openError()
            #expect(error?.code == .corrupt)
            let message = error?.message ?? ""
            #expect(message.contains("\(h.segmentsDirectory)/\(name)"), "\(message)")
            #expect(message.contains("corrupt record at byte offset \(target.start)"), "\(message)")
            // "not a torn tail" / "not a torn write": the message says why nothing was cut.
            #expect(message.contains("not a torn"), "\(message)")
            #expect(h.bytes(ofSegment: name) == bytes)
            #expect(h.segmentDirectoryListing() == [name])
        }
    }
}

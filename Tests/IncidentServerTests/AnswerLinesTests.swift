import NIOCore
import Testing

@testable import IncidentBench

/// The lean generators' answer splitter: whole lines, wherever the reads cut them, each seen by
/// its head only.
@Suite struct AnswerLinesTests {
    @Test func linesCutAnywhereAreWholeAndLongOnesKeepTheirHead() {
        let long = #"{"ok":true,"view":"# + String(repeating: "x", count: 20_000) + "}"
        let text = #"{"ok":true,"ids":["a:1"]}"# + "\n" + long + "\n" + #"{"ok":false,"code":"rate_limited"}"# + "\n" + "\n"
        let bytes = Array(text.utf8)
        for cut in [1, 7, 100, 4096, bytes.count] {
            var lines = AnswerLines()
            var seen: [[UInt8]] = []
            var at = 0
            while at < bytes.count {
                var buffer = ByteBuffer(bytes: bytes[at..<min(bytes.count, at + cut)])
                lines.read(&buffer) { line in
                    seen.append(line)
                    return true
                }
                #expect(buffer.readableBytes == 0)
                at += cut
            }
            #expect(seen.count == 4, "reads of \(cut) bytes")
            #expect(seen.first == Array(#"{"ok":true,"ids":["a:1"]}"#.utf8))
            #expect(seen.dropFirst().first == Array(long.utf8.prefix(AnswerLines.headBytes)))
            #expect(seen.dropFirst(2).first == Array(#"{"ok":false,"code":"rate_limited"}"#.utf8))
            #expect(seen.last == [])
        }
    }

    /// A handler that stops at an answer leaves the rest of the buffer unread.
    @Test func stoppingLeavesTheRestUnread() {
        var lines = AnswerLines()
        var buffer = ByteBuffer(string: "a\nb\nc\n")
        var seen = 0
        lines.read(&buffer) { _ in
            seen += 1
            return false
        }
        #expect(seen == 1)
        #expect(buffer.readableBytes == 4)
    }
}

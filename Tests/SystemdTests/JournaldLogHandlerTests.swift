import Logging
import Systemd
import Testing

@Suite("Journald field names and priorities")
struct JournaldLogHandlerTests {
    @Test(arguments: [
        ("sync.peer", "SYNC_PEER"), ("node.id", "NODE_ID"), ("store.free_bytes", "STORE_FREE_BYTES"),
        ("error", "META_ERROR"), ("message", "META_MESSAGE"), ("_pid", "PID"), ("1st", "META_1ST"),
        ("code.line", "META_CODE_LINE"), ("sync-peer détail", "SYNC_PEER_D_TAIL"),
    ])
    func metadataKeysBecomeUpperCaseFields(key: String, field: String) {
        #expect(JournaldLogHandler.fieldName(key) == field)
    }

    @Test func fieldNamesAreAtMost64Bytes() {
        #expect(JournaldLogHandler.fieldName(String(repeating: "a.", count: 60)).utf8.count == 64)
    }

    @Test func levelsMapToSyslogPriorities() {
        let expected: [(Logger.Level, Int)] = [
            (.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
        ]
        for (level, priority) in expected { #expect(JournaldLogHandler.priority(level) == priority) }
    }
}

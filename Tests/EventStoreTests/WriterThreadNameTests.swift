import EventStore
import Foundation
import Testing

@Suite struct WriterThreadNameTests {
    /// `top -H`, perf and /proc name the writer thread, so that its share of the CPU can be read
    /// apart from the pool's. Linux refuses a name of more than 15 bytes and the thread then keeps
    /// the name of the one that started it.
    @Test func theWriterThreadIsNamed() async throws {
        let seen = Shared<String?>(nil)
        var options = StoreOptions()
        options.writerStallHook = {
            let comm = try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)
            seen.update { $0 = $0 ?? comm?.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        try await StoreHarness.with(options: options) { h in
            let store = try h.open()
            _ = try await store.append([pending(1)])
            await store.close()
        }
        #expect(seen.current == "incident-writer")
    }
}

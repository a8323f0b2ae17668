import Foundation
import IncidentFuzz
import IncidentModel
import Testing

/// The fuzz target's seed corpus (Fuzz/corpus) through every harness, without sanitizers, so that
/// `make test` catches a parser change that breaks a property on a real line — or a crash input
/// once added to the corpus — without running libFuzzer.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/corpus")

    static func seeds() throws -> [(name: String, bytes: [UInt8])] {
        let names = try FileManager.default.contentsOfDirectory(atPath: corpus.path).sorted()
        return try names.map { ($0, [UInt8](try Data(contentsOf: corpus.appendingPathComponent($0)))) }
    }

    @Test func everySeedKeepsEveryHarnessProperty() throws {
        let seeds = try Self.seeds()
        #expect(seeds.count >= 20)
        for seed in seeds {
            do {
                try FuzzHarness.run(seed.bytes)
            } catch {
                Issue.record("\(seed.name): \(error)")
            }
        }
    }

    /// If the protocol changes and the seeds stop parsing, the fuzzer would only ever see
    /// refusals; this keeps the corpus reaching each parser's accepting path.
    @Test func seedsReachEveryAcceptingPath() throws {
        var accepted: Set<String> = []
        for seed in try Self.seeds() {
            accepted.formUnion((try? FuzzHarness.run(seed.bytes)) ?? [])
        }
        let protocolKinds = [
            "request.append", "request.append.parts", "request.get", "request.read", "request.ingest", "request.status",
            "peer.hello", "peer.proof", "peer.events", "peer.ack", "peer.refused", "peer.ping", "peer.pong",
            "peer.error",
            "event", "event.hash_valid", "json",
        ]
        let required = Set(protocolKinds + EventType.allCases.map { "validator.\($0.rawValue)" })
        #expect(required.subtracting(accepted).isEmpty, "never accepted: \(required.subtracting(accepted).sorted())")
    }
}

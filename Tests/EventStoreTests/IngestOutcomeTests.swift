import EventStore
import IncidentModel
import Testing

/// What the store makes of replicated events that repeat or contradict ones it holds, when the
/// held ones were stored in the same commit (checked against the commit's own hashes) or an
/// earlier one (read back from the log).
@Suite struct IngestOutcomeTests {
    static func kinds(_ outcomes: [IngestOutcome]) -> [String] {
        outcomes.map {
            switch $0 {
            case .stored(let offset): "stored \(offset)"
            case .duplicate: "duplicate"
            case .refused(let code, _): "refused \(code.rawValue)"
            }
        }
    }

    @Test func repeatsAndForksOfEventsStoredInTheSameCommitAreToldApart() async throws {
        try await StoreHarness.with { h in
            let store = try h.open()
            _ = try await store.append([pending(1), pending(2)])
            let kidal = replicatedChain("kidal", from: 1, count: 4, after: nil)
            let forked = replicatedChain("kidal", from: 1, count: 4, after: nil, reason: "other")
            // One call, one commit: seqs 1-3 stored, then seq 2 again (a repeat), seq 1 changed
            // (a fork), seq 3 changed, and the chain goes on.
            let outcomes = try await store.ingest([kidal[0], kidal[1], kidal[2], kidal[1], forked[0], forked[2], kidal[3]])
            #expect(
                Self.kinds(outcomes) == ["stored 2", "stored 3", "stored 4", "duplicate", "refused fork", "refused fork", "stored 5"])
            // A later commit checks against what the log holds.
            let again = try await store.ingest([kidal[1], forked[3]])
            #expect(Self.kinds(again) == ["duplicate", "refused fork"])
            #expect(store.versionVector == VersionVector(["gao": 2, "kidal": 4]))
            #expect(store.offset(origin: "kidal", seq: 4) == 5)
            #expect(store.offset(origin: "gao", seq: 2) == 1)
            await store.close()
        }
    }
}

import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing
import Wire

/// Removing a node from the trust list (config file, SIGHUP) stops the session already open with
/// it: nothing more is sent to it or taken from it, and it cannot come back.
@Suite(.serialized) struct TrustReloadTests {
    @Test(.timeLimit(.minutes(2)))
    func sighupWithoutAPeerInTheTrustListDropsItsOpenSession() async throws {
        let a0 = TestNode(nodeID: "a")
        let b0 = TestNode(nodeID: "b")
        let keys = try await ["a": a0.publicKey(), "b": b0.publicKey()]
        let config = a0.dataDir + ".json"
        func writeConfig(trust: [String]) throws {
            let entries = trust.map { "\"\($0)\": \"\(keys[$0]!)\"" }.joined(separator: ", ")
            try Data("{\"trust\": {\(entries)}}".utf8).write(to: URL(fileURLWithPath: config))
        }
        try writeConfig(trust: ["a", "b"])
        let a = TestNode(nodeID: "a", dataDir: a0.dataDir, extraArguments: ["--fsync", "never", "--config", config])
        let b = TestNode(nodeID: "b", dataDir: b0.dataDir, extraArguments: ["--fsync", "never", "--trust", "a=\(keys["a"]!)"])
        defer {
            for n in [a, b] {
                n.discard()
            }
            try? FileManager.default.removeItem(atPath: config)
        }
        try await a.start()
        b.nextStartArguments = ["--peer", a.peer!.description]
        try await b.start()

        func appendOn(_ node: TestNode, _ marker: String) async throws {
            _ = try await IncidentConnection.withConnection(to: node.client) {
                try await $0.request(Requests.append(eventObjects: [Fixtures.incident(marker)]))
            }
        }
        func vector(_ node: TestNode) async throws -> VersionVector { try await TestCluster.vector(node) }
        func peerEntry(_ node: TestNode) async throws -> JSONValue? {
            let status = try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
            return status["peers"]?.arrayValue?.first
        }
        /// `status`'s `trust`: the list in force, node → base64 key.
        func trustShown(_ node: TestNode) async throws -> [String: String] {
            let status = try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
            return Dictionary(uniqueKeysWithValues: (status["trust"]?.objectMembers ?? []).map { ($0.key, $0.value.stringValue ?? "?") })
        }
        #expect(try await trustShown(a) == keys)
        #expect(try await trustShown(b) == keys)  // b's own key is trusted without being listed

        // Linked: events flow both ways.
        try await appendOn(a, "a-1")
        try await appendOn(b, "b-1")
        try await waitUntil("the first events crossed") {
            let (va, vb) = (try await vector(a), try await vector(b))
            return va == VersionVector(["a": 1, "b": 1]) && vb == va
        }

        try writeConfig(trust: ["a"])
        a.send(signal: SIGHUP)
        try await waitUntil("the reload") { a.log.contains("config.applied=trust") }
        #expect(try await trustShown(a) == ["a": keys["a"]!])
        try await waitUntil("the open session with b ended") {
            try await peerEntry(b)?["connected"]?.boolValue == false
        }
        // a ended it, and said why (b's own last_error may instead be a reset seen while redialing).
        #expect(a.log.contains("sync.code=untrusted_peer"), "\(a.log.suffix(2000))")
        #expect(a.log.contains("no longer trusted with the key it proved"), "\(a.log.suffix(2000))")

        // Nothing crosses any more, either way, though b keeps redialing.
        try await appendOn(a, "a-2")
        try await appendOn(b, "b-2")
        try await Task.sleep(for: .seconds(1.5))
        #expect(try await vector(b)["a"] == 1, "a sent to a node it no longer trusts")
        #expect(try await vector(a)["b"] == 1, "a took events from a node it no longer trusts")
    }

    func waitUntil(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("timed out waiting for \(what)")
        throw CancellationError()
    }
}

import Foundation
import IncidentBench
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Synchronization
import Testing
import Wire

@Suite("Graceful shutdown and configuration")
struct ShutdownTests {
    /// SIGTERM while clients append: every append gets an answer (ok or shutting_down), the node
    /// exits 0, and everything acknowledged is there after a restart.
    @Test func sigtermAnswersEveryAppendAndExitsZero() async throws {
        let node = TestNode(nodeID: "term")
        defer {
            node.discard()
        }
        try await node.start()
        let address = node.client
        let acked = Shared<[String]>([])
        let unanswered = Shared<Int>(0)
        let refused = Shared<Int>(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in 0..<8 {
                group.addTask {
                    // Pipelined: 20 appends sent at once, then their 20 answers read.
                    try? await IncidentConnection.withConnection(to: address) { connection in
                        for round in 0..<1000 {
                            try await connection.send(lines: (0..<20).map { Requests.append(eventObjects: [Fixtures.incident("t\(c)-\(round)-\($0)")]) })
                            var refusedNow = false
                            var answered = 0
                            for k in 0..<20 {
                                let line: [UInt8]
                                do {
                                    line = try await connection.receive()
                                    answered += 1
                                } catch {
                                    // A window cut short after some of its answers: requests the node
                                    // read went unanswered. A window with no answer at all was sent
                                    // after the node had closed the (quiet) connection: it never
                                    // reached the node.
                                    if answered > 0 { unanswered.withLock { $0 += 20 - k } }
                                    return
                                }
                                do {
                                    let r = try IncidentConnection.decode(line)
                                    acked.withLock { $0.append(r["ids"]?.arrayValue?.first?.stringValue ?? "") }
                                } catch ClientError.server(let code, _, _) {
                                    #expect(code == "shutting_down")
                                    refused.withLock { $0 += 1 }
                                    refusedNow = true
                                }
                            }
                            if refusedNow { return }
                        }
                    }
                }
            }
            // Shut down once appends are flowing (a fixed sleep is too short on a loaded machine).
            let flowing = ContinuousClock.now + .seconds(10)
            while acked.withLock({ $0.count }) < 40, ContinuousClock.now < flowing { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(100))
            let status = await node.stop()
            #expect(status == 0, "exit status \(status); log:\n\(node.log)")
            try await group.waitForAll()
        }
        // Every pipelined append that was sent got an answer: ok before shutdown, shutting_down after.
        #expect(unanswered.withLock { $0 } == 0, "some appends got no answer; log:\n\(node.log)")
        #expect(acked.withLock { $0.count } > 0, "clients were appending when shutdown began")
        #expect(node.log.contains("node stopped"))
        try await node.start()
        let ids = Set(try Fixtures.verifyChains(try await Fixtures.export(node.client)).map(\.id))
        for id in acked.withLock({ $0 }) { #expect(ids.contains(id)) }
    }

    @Test func badConfigFailsFastNamingTheKey() async throws {
        let dir = TestNode.temporaryDirectory(prefix: "badconfig")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/bad.json"
        try Data(#"{"node_id":"x","listen":"127.0.0.1:0","fsnyc":"always"}"#.utf8).write(to: URL(fileURLWithPath: file))
        let run = try await Security.run("incidentd", ["--config", file, "--data-dir", dir + "/data"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("bad.json"))
        #expect(run.stderr.contains("fsnyc: unknown key"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/data"), "nothing is created for a bad config")
    }

    @Test func printPublicKeyCreatesThePrivateKeyWithMode0600() async throws {
        let dir = TestNode.temporaryDirectory(prefix: "pubkey")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func run() async throws -> String { try await LocalNode.printPublicKey(binary: TestNode.binaryPath, dataDir: dir) }
        let first = try await run()
        #expect(NodeIdentity.publicKey(base64: first) != nil)
        #expect(try await run() == first, "the key is created once and then reused")
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/node.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}

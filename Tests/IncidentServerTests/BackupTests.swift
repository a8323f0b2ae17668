import EventStore
import Foundation
import IncidentBackup
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Logging
import Testing
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// `incidentctl backup DIR` against real nodes: a copy taken while appends go on, restored into
/// a node that then syncs only what came after it; a damaged copy and a DIR in use are refused.
@Suite struct BackupTests {
    /// A fresh parent directory for a backup; the backup's own directory does not exist yet.
    static func backupPlace() -> (parent: String, dir: String) {
        let parent = TestNode.temporaryDirectory(prefix: "backup")
        return (parent, parent + "/copy")
    }

    static func append(_ node: some NodeUnderTest, _ prefix: String, count: Int, perRequest: Int = 20) async throws {
        try await IncidentConnection.withConnection(to: node.client) { c in
            var done = 0
            while done < count {
                let n = min(perRequest, count - done)
                _ = try await c.request(Requests.append(eventObjects: (done..<(done + n)).map { Fixtures.incident("\(prefix)-\($0)") }))
                done += n
            }
        }
    }

    static func status(_ node: some NodeUnderTest) async throws -> JSONValue {
        try await IncidentConnection.withConnection(to: node.client) { try await $0.request(Requests.status) }
    }

    /// The lines of a backup's segment files, in offset order.
    static func copiedLines(_ dir: String) throws -> [[UInt8]] {
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/segments").filter { $0.hasSuffix(".jsonl") }.sorted()
        return try names.flatMap { name -> [[UInt8]] in
            let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/segments/" + name))
            return bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast().map { Array($0) }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aBackupTakenWhileAppendsGoOnVerifiesAndHoldsAPrefixOfTheLog() async throws {
        let (parent, dir) = Self.backupPlace()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        try await withInProcessNode(nodeID: "gao", arguments: ["--fsync", "never"]) { node in
            try await Self.append(node, "before", count: 3000, perRequest: 200)
            let appended = Shared(0)
            let stop = Shared(false)
            let appender = Task {
                try await IncidentConnection.withConnection(to: node.client) { c in
                    var n = 0
                    while !stop.withLock({ $0 }) {
                        _ = try await c.request(Requests.append(eventObjects: (0..<7).map { Fixtures.incident("during-\(n)-\($0)") }))
                        n += 1
                        appended.withLock { $0 += 7 }
                    }
                }
            }
            let atStart = appended.withLock { $0 }
            var options = BackupOptions(endpoint: IncidentEndpoint(node.client), directory: dir)
            options.pageEvents = 250  // many pages, so that appends land between them
            // Segments of about 200 events: the copy's cut differs from the node's, as it may.
            options.segmentBytes = 128 << 10
            let summary = try await Backup.run(options)
            let atEnd = appended.withLock { $0 }
            stop.withLock { $0 = true }
            try await appender.value
            let v = summary.verification

            #expect(atEnd > atStart, "no append landed while the backup ran")
            #expect(v.events >= 3000)
            #expect(v.segments > 1)
            #expect(v.unsignedTails.isEmpty, "the backup's end fell inside a commit: \(v.unsignedTails)")
            #expect(v.signaturesChecked > 0 && v.uncheckedOrigins.isEmpty)
            // The node went on past the backup's end; the copy is its log up to there, byte for byte.
            let log = try await Fixtures.export(node.client)
            #expect(log.count > Int(v.events))
            let copy = try Self.copiedLines(dir)
            #expect(copy.count == Int(v.events))
            #expect(copy == Array(log.prefix(copy.count)))
            _ = try Fixtures.verifyChains(copy)
            #expect(v.vector == VersionVector(["gao": v.events]))
            // It opens as a store (the restored node's first step), holding exactly that.
            let key = try NodeIdentity.load(path: node.dataDir + "/node.key")
            let store = try EventStore(directory: dir, nodeID: "gao", identity: key, logger: Logger(label: "test"))
            #expect(store.count == v.events && store.versionVector == v.vector)
            await store.close()
            let manifest = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/backup.json"))))
            #expect(manifest["node"]?.stringValue == "gao" && manifest["events"]?.integerValue == Int64(v.events))
            #expect(!FileManager.default.fileExists(atPath: dir + "/node.key"), "the private key must not be in a backup")
        }
    }

    /// gao's disk is lost after a backup; it is rebuilt from the backup and its kept key, and a
    /// new office (tmb) is seeded from the same backup. Each fetches from hq only the events
    /// appended after the backup: its hello's vector is that of the restored log.
    @Test(.timeLimit(.minutes(3)))
    func aNodeRestoredFromABackupFetchesOnlyWhatCameAfterIt() async throws {
        let cluster = try await TestCluster(ids: ["gao", "hq", "tmb"])
        let (parent, dir) = Self.backupPlace()
        var restored: [TestNode] = []
        defer {
            for n in restored {
                n.discard()
            }
            cluster.removeFiles()
            try? FileManager.default.removeItem(atPath: parent)
        }
        try await cluster.start("hq")
        try await cluster.start("gao", dialing: ["hq"])
        try await Self.append(cluster["gao"], "gao-before", count: 120)
        try await Self.append(cluster["hq"], "hq-before", count: 50)
        _ = try await cluster.waitConverged(["gao", "hq"], minimum: VersionVector(["gao": 120, "hq": 50]))

        let summary = try await Backup.run(BackupOptions(endpoint: IncidentEndpoint(cluster["gao"].client), directory: dir))
        #expect(summary.verification.vector == VersionVector(["gao": 120, "hq": 50]))
        #expect(summary.verification.signaturesChecked > 0 && summary.verification.uncheckedOrigins.isEmpty)

        try await Self.append(cluster["gao"], "gao-after", count: 40)
        try await Self.append(cluster["hq"], "hq-after", count: 30)
        let full = try await cluster.waitConverged(["gao", "hq"], minimum: VersionVector(["gao": 160, "hq": 80]))
        await #expect(cluster["gao"].stop() == 0)
        func sentByHQ() async throws -> [String: Int64] {
            let peers = try await Self.status(cluster["hq"])["peers"]?.arrayValue ?? []
            return Dictionary(uniqueKeysWithValues: peers.map { ($0["node"]?.stringValue ?? "?", $0["events_sent"]?.integerValue ?? 0) })
        }
        let sentBefore = try await sentByHQ()

        // Restores: gao on a copy of the backup with its own key (kept apart), tmb on another with its own.
        for id in ["gao", "tmb"] {
            let dataDir = parent + "/restored-" + id
            try FileManager.default.copyItem(atPath: dir, toPath: dataDir)
            try FileManager.default.copyItem(atPath: cluster[id].dataDir + "/node.key", toPath: dataDir + "/node.key")
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: dataDir + "/node.key")
            let node = TestNode(nodeID: id, dataDir: dataDir, extraArguments: cluster[id].extraArguments)
            node.nextStartArguments = ["--peer", cluster["hq"].peer!.description]
            restored.append(node)
            try await node.start()
        }
        for node in restored {
            let deadline = ContinuousClock.now + .seconds(30)
            while try await TestCluster.vector(node) != full, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await TestCluster.vector(node) == full, "\(node.nodeID) did not catch up")
            // It took only what the backup lacks: gao's own 40 that hq held, and hq's 30.
            let peer = try #require(try await Self.status(node)["peers"]?.arrayValue?.first)
            #expect(peer["events_received"]?.integerValue == 70, "\(node.nodeID): \(peer)")
            #expect(FileManager.default.contents(atPath: node.dataDir + "/node_id") == Data("\(node.nodeID)\n".utf8))
        }
        let sentAfter = try await sentByHQ()
        #expect(sentAfter["gao", default: 0] - sentBefore["gao", default: 0] == 70, "\(sentBefore) → \(sentAfter)")
        #expect(sentAfter["tmb", default: 0] == 70, "\(sentAfter)")
        // The rebuilt gao writes on from its chain, and hq takes it: no fork.
        try await Self.append(restored[0], "gao-rebuilt", count: 1)
        // Replication is asynchronous: the append is answered once the rebuilt gao stored it.
        _ = try await TestCluster.waitConverged([cluster["hq"], restored[0]], minimum: VersionVector(["gao": 161, "hq": 80]))
        let last = try await IncidentConnection.withConnection(to: cluster["hq"].client) { c in
            try await c.request(Requests.get(id: "gao:161"))
        }
        #expect(last["event"]?["data"]?["incident_id"]?.stringValue == "gao-rebuilt-0")
        let hq = try await Self.status(cluster["hq"])
        #expect(hq["forks"]?.integerValue == 0)
    }

    /// A byte flipped in the copy before it is checked (in a line's data, then in a signature,
    /// which no hash covers): reported bad, and nothing is put in place or left behind.
    @Test(.timeLimit(.minutes(2)))
    func aDamagedCopyIsReportedBadAndNotPutInPlace() async throws {
        let (parent, dir) = Self.backupPlace()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        try await withInProcessNode(nodeID: "gao", arguments: ["--fsync", "never"]) { node in
            try await Self.append(node, "e", count: 100)
            // 100 events in 5 commits: 5 signatures, the third of them in the middle of the log.
            for (what, pattern, offset, occurrence) in [("data", #""summary":"IED"#, 12, 40), ("signature", #""sig":""#, 20, 3)] {
                var options = BackupOptions(endpoint: IncidentEndpoint(node.client), directory: dir)
                let damaged = Shared<String?>(nil)
                options.beforeVerify = { temporary in
                    let path = temporary + "/segments/" + SegmentName.fileName(firstOffset: 0)
                    guard var bytes = FileManager.default.contents(atPath: path).map(Array.init) else { return }
                    let needle = Array(pattern.utf8)
                    var found = 0
                    for i in 0..<(bytes.count - needle.count) where bytes[i..<(i + needle.count)].elementsEqual(needle) {
                        found += 1
                        if found == occurrence {
                            bytes[i + offset] = bytes[i + offset] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
                            damaged.withLock { $0 = path }
                            break
                        }
                    }
                    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
                }
                let error = await #expect(throws: BackupError.self, "\(what)") { try await Backup.run(options) }
                #expect(damaged.withLock { $0 } != nil, "\(what): nothing was damaged")
                #expect(error?.code == .bad, "\(what)")
                let expected = what == "data" ? "hash does not match" : "signature does not verify with gao's key"
                #expect(error?.message.contains(expected) == true, "\(what): \(error?.message ?? "")")
                #expect(!FileManager.default.fileExists(atPath: dir), "\(what): a bad copy was put in place")
                #expect(try FileManager.default.contentsOfDirectory(atPath: parent).isEmpty, "\(what): left behind")
            }
        }
    }

    /// DIR must be new or empty: anything in it, or a file by that name, is refused before
    /// anything is written.
    @Test(.timeLimit(.minutes(2)))
    func aDirectoryThatIsNotEmptyIsRefusedAndNothingIsWritten() async throws {
        let (parent, dir) = Self.backupPlace()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        try await TestNode.with(nodeID: "gao", extraArguments: ["--fsync", "never"]) { node in
            try await Self.append(node, "e", count: 5)
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
            _ = FileManager.default.createFile(atPath: dir + "/notes.txt", contents: Data("keep me\n".utf8))
            let refused = try await Security.run("incidentctl", ["backup", "--node", node.client.description, dir])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("\(dir) is not empty"), "\(refused.stderr)")
            #expect(refused.stderr.contains("nothing was written"), "\(refused.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["notes.txt"])
            #expect(try FileManager.default.contentsOfDirectory(atPath: parent) == ["copy"])
            let json = try await Security.run("incidentctl", ["backup", "--json", "--node", node.client.description, dir])
            #expect(json.status == 1)
            #expect(try JSONParser.parse(Array(json.stdout.utf8))["error"]?["code"]?.stringValue == "not_empty", "\(json.stdout)")

            let file = parent + "/file"
            _ = FileManager.default.createFile(atPath: file, contents: Data())
            let notADirectory = try await Security.run("incidentctl", ["backup", "--node", node.client.description, file])
            #expect(notADirectory.status == 1 && notADirectory.stderr.contains("is not a directory"), "\(notADirectory.stderr)")

            // An empty DIR is taken (the checked copy replaces it).
            try FileManager.default.removeItem(atPath: dir + "/notes.txt")
            let good = try await Security.run("incidentctl", ["backup", "--node", node.client.description, dir])
            #expect(good.status == 0, "\(good.stderr)")
            #expect(good.stdout.hasPrefix("backup good: 5 events of 1 origin(s) (gao 5)"), "\(good.stdout)")
            #expect(try Self.copiedLines(dir).count == 5)
        }
    }
}

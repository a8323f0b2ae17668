import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Starts that must not happen: a data directory under another node id. It exits non-zero at
/// once with the reason on stderr.
@Suite("Start-up refusals")
struct StartupRefusalTests {
    /// The first start records the node id beside the key; a start under another id is refused
    /// naming both, and writes nothing.
    @Test func aDataDirectoryKeepsTheNodeIdItWasFirstStartedWith() async throws {
        let x = TestNode(nodeID: "x", extraArguments: ["--fsync", "never"])
        let dev = TestNode(nodeID: "dev", dataDir: x.dataDir, extraArguments: ["--fsync", "never"])
        defer {
            dev.kill9()
            x.kill9()
            x.removeFiles()
            dev.removeFiles()
        }
        try await x.start()
        _ = try await IncidentConnection.withConnection(to: x.client) { try await $0.request(Requests.append(eventObjects: [Self.incident])) }
        x.stop()
        #expect(try String(contentsOfFile: x.dataDir + "/node_id", encoding: .utf8) == "x\n")

        let error = await #expect(throws: TestNode.Failure.self) { try await dev.start() }
        let text = error?.description ?? ""
        #expect(text.contains("exited with 1"), "\(text)")
        #expect(
            text.contains("incidentd: \(x.dataDir): node_id: this data directory belongs to node x (recorded in \(x.dataDir)/node_id), but this node is configured as dev"),
            "\(text)")

        try await x.start()
        let vector = try await TestCluster.vector(x)
        #expect(vector == VersionVector(["x": 1]), "nothing was written as dev: \(vector)")
    }

    /// A data directory from before `node_id` existed: adopted by the node whose key signed its
    /// own events, refused (naming that origin) under any other id.
    @Test func aDataDirectoryWithoutTheFileIsAdoptedOnlyByItsOwnNode() async throws {
        let x = TestNode(nodeID: "x", extraArguments: ["--fsync", "never"])
        let dev = TestNode(nodeID: "dev", dataDir: x.dataDir, extraArguments: ["--fsync", "never"])
        defer {
            dev.kill9()
            x.kill9()
            x.removeFiles()
            dev.removeFiles()
        }
        try await x.start()
        _ = try await IncidentConnection.withConnection(to: x.client) { try await $0.request(Requests.append(eventObjects: [Self.incident])) }
        x.stop()
        unlink(x.dataDir + "/node_id")

        let error = await #expect(throws: TestNode.Failure.self) { try await dev.start() }
        let text = error?.description ?? ""
        #expect(
            text.contains("node_id: this data directory belongs to node x (its log holds events of origin x signed with this node's key), but this node is configured as dev"),
            "\(text)")
        #expect(!FileManager.default.fileExists(atPath: x.dataDir + "/node_id"), "a refused start records nothing")

        try await x.start()
        #expect(try String(contentsOfFile: x.dataDir + "/node_id", encoding: .utf8) == "x\n")
    }

    static let incident = Array(
        #"{"type":"incident.reported","sector":"east","data":{"incident_id":"i-1","category":"ied","summary":"IED on RN16","occurred_at":"2026-11-28T06:40:00Z","location":{"name":"RN16 km 12","lat":16.17,"lon":-0.02}}}"#
            .utf8)
}

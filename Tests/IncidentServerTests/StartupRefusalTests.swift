import Dispatch
import Foundation
import IncidentClient
import IncidentModel
import IncidentTestSupport
import NIOCore
import NIOPosix
import Testing
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// Starts that must not happen: a data directory under another node id, a listener address
/// already taken. Each exits non-zero at once with the reason on stderr.
@Suite("Start-up refusals")
struct StartupRefusalTests {
    /// A restart binds the peer port the node had (its peers dial it). When another socket holds
    /// that port for a moment, the harness tries the start again instead of failing the test:
    /// the port's holder, a listener here, lets it go 0.8 s after the node has first been refused.
    ///
    /// The holder is let go from a thread of its own. A task polling the log did it in the end,
    /// but under the whole suite the concurrency pool is busy: the task noticed the refusal
    /// seconds late (the test took 6–10 s instead of 1.3 s), and once the restart ran out of its
    /// 10 attempts first (CI).
    @Test func aRestartWhoseOldPeerPortIsHeldForAMomentStartsOnceItIsFree() async throws {
        try await TestNode.with(nodeID: "p", extraArguments: ["--fsync", "never"]) { node in
            let port = try #require(node.peer).port
            await node.stop()
            let holder = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: port).get()
            let refusal = "peer_listen 127.0.0.1:\(port): address already in use"
            let refused = Shared(false)
            let released = DispatchSemaphore(value: 0)
            let releaser = Thread {
                let deadline = Date().addingTimeInterval(30)
                while Date() < deadline, !node.log.contains(refusal) { usleep(20_000) }
                refused.withLock { $0 = node.log.contains(refusal) }
                usleep(800_000)
                holder.close(promise: nil)
                released.signal()
            }
            releaser.start()
            try await node.start()
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    released.wait()
                    continuation.resume()
                }
            }
            #expect(refused.withLock { $0 }, "the restart was never refused the held port")
            #expect(node.peer?.port == port)
        }
    }

    static let withoutPeers = ["--fsync", "never", "--peer-listen", "off"]

    /// The first start records the node id beside the key; a start under another id is refused
    /// naming both, and writes nothing.
    ///
    /// No peer listener: a restart would bind the peer port the node had, which another test's
    /// connection may hold by then, and nothing here dials it.
    @Test func aDataDirectoryKeepsTheNodeIdItWasFirstStartedWith() async throws {
        let x = TestNode(nodeID: "x", extraArguments: Self.withoutPeers)
        let dev = TestNode(nodeID: "dev", dataDir: x.dataDir, extraArguments: Self.withoutPeers)
        defer {
            dev.discard()
            x.discard()
        }
        try await x.start()
        _ = try await IncidentConnection.withConnection(to: x.client) { try await $0.request(Requests.append(eventObjects: [Self.incident])) }
        await x.stop()
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
        let x = TestNode(nodeID: "x", extraArguments: Self.withoutPeers)
        let dev = TestNode(nodeID: "dev", dataDir: x.dataDir, extraArguments: Self.withoutPeers)
        defer {
            dev.discard()
            x.discard()
        }
        try await x.start()
        _ = try await IncidentConnection.withConnection(to: x.client) { try await $0.request(Requests.append(eventObjects: [Self.incident])) }
        await x.stop()
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

    /// A client or peer address that another socket holds: exit 1, naming the key and the address
    /// (not a node that spins and ignores SIGTERM). A node that hung instead would fail `start`
    /// with "not ready within 60 s", not "exited with 1", so the test needs no clock of its own.
    @Test(arguments: ["listen", "peer_listen"])
    func anAddressInUseStopsTheNodeNamingTheKey(_ key: String) async throws {
        let (fd, port) = try Self.listenOnLoopback()
        defer { close(fd) }
        let flag = key == "listen" ? "--listen" : "--peer-listen"
        let node = TestNode(nodeID: "busy", extraArguments: ["--fsync", "never", flag, "127.0.0.1:\(port)"])
        defer {
            node.discard()
        }
        let error = await #expect(throws: TestNode.Failure.self) { try await node.start() }
        let text = error?.description ?? ""
        #expect(text.contains("exited with 1"), "\(text)")
        #expect(text.contains("incidentd: \(key) 127.0.0.1:\(port): address already in use"), "\(text)")
    }

    /// A listening TCP socket on 127.0.0.1 and the port it got.
    static func listenOnLoopback() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Fixtures.Problem("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else {
            close(fd)
            throw Fixtures.Problem("bind: \(errno)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    static let incident = Array(
        #"{"type":"incident.reported","sector":"east","data":{"incident_id":"i-1","category":"ied","summary":"IED on RN16","occurred_at":"2026-11-28T06:40:00Z","location":{"name":"RN16 km 12","lat":16.17,"lon":-0.02}}}"#
            .utf8)
}

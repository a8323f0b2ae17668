import Foundation
import IncidentTestSupport
import Testing

/// A real test node restarts on its old peer port (its peers dial that address), so the port is
/// taken below the kernel's ephemeral range: no port-0 listener or outgoing connection of the
/// suite can take it while the node is down. (SegmentRepairTests once failed to restart with
/// "address already in use" on a port-0 peer port.)
@Suite struct TestNodePortTests {
    @Test func aRealNodesPeerPortIsBelowTheEphemeralRangeAndKeptOnRestart() async throws {
        let range = try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
        let lowest = try #require(range.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap { Int($0) })
        let node = TestNode(nodeID: "port", extraArguments: ["--fsync", "never"])
        defer {
            node.stop()
            node.removeFiles()
        }
        try await node.start()
        let first = try #require(node.peer?.port)
        #expect(first < lowest, "peer port \(first), ephemeral ports from \(lowest)")
        node.stop()
        try await node.start()
        #expect(node.peer?.port == first)
    }
}

import IncidentClient
import IncidentTestSupport
import NIOCore
import NIOPosix
import Testing

@testable import IncidentBench

/// The lean generators' connections run on the loop the generator picked for them. They once ran
/// on whichever loop the shared group handed out next, one call after the generator's own: with
/// two loops, every connection of `bench query` and `bench append` landed on the same one, and a
/// generator meant to use every core used one.
@Suite struct LeanConnectionTests {
    @Test func eachConnectionRunsOnTheLoopItWasGiven() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        var asked: [ObjectIdentifier] = []
        var got: [ObjectIdentifier] = []
        do {
            try await withInProcessNode(nodeID: "lean") { node in
                for _ in 0..<4 {
                    let loop = group.next()
                    let channel = try await LeanConnection.connect(to: IncidentEndpoint(node.client), on: loop) { ChannelInboundNothing() }
                    asked.append(ObjectIdentifier(loop))
                    got.append(ObjectIdentifier(channel.eventLoop))
                    try await channel.close()
                }
            }
        } catch {
            try await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
        #expect(got == asked)
        #expect(Set(got).count == 2)
    }
}

/// A handler that reads nothing in particular.
final class ChannelInboundNothing: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
}

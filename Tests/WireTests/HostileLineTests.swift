import IncidentModel
import NIOCore
import NIOEmbedded
import Testing
@testable import Wire

/// Lines from whoever reaches a port, before it proved who it is: the parser's limits have their
/// own error codes (client) or reasons (peer), and a peer's hello and proof are held to a small
/// line limit by the decoder, refused before the rest of the line arrives.
@Suite struct HostileLineTests {
    static func manyKeys(_ count: Int, prefix: String = "{") -> [UInt8] {
        var text = prefix
        for i in 0..<count {
            if i > 0 || prefix != "{" { text += "," }
            text += "\"k\(i)\":0"
        }
        return Array((text + "}").utf8)
    }

    static let deep = Array((String(repeating: "[", count: 65) + String(repeating: "]", count: 65)).utf8)

    @Test func clientRequestsAnswerTheParserLimitsWithTheirOwnCodes() {
        func code(_ line: [UInt8]) -> WireErrorCode? {
            line.withUnsafeBufferPointer { buffer -> WireErrorCode? in
                do throws(WireError) {
                    _ = try ClientRequest.parse(line: buffer, validator: EventValidator(), maximumEvents: 100)
                    return nil
                } catch {
                    return error.code
                }
            }
        }
        #expect(code(Self.manyKeys(20_000, prefix: "{\"op\":\"status\"")) == .tooManyMembers)
        #expect(code(Self.deep) == .tooDeep)
        #expect(code(Array("{\"a\":1,\"a\":1}".utf8)) == .invalidJSON)
        #expect(WireErrorCode.tooManyMembers.rawValue == "too_many_members")
        #expect(WireErrorCode.tooDeep.rawValue == "too_deep")
    }

    @Test func authRequestsAnswerTheParserLimitsWithTheirOwnCodes() {
        func code(_ line: [UInt8]) -> WireErrorCode? {
            line.withUnsafeBufferPointer { buffer -> WireErrorCode? in
                do throws(WireError) {
                    _ = try AuthRequest.parse(buffer)
                    return nil
                } catch {
                    return error.code
                }
            }
        }
        #expect(code(Self.manyKeys(20_000, prefix: "{\"op\":\"auth\"")) == .tooManyMembers)
        #expect(code(Self.deep) == .tooDeep)
    }

    @Test func peerMessagesNameTheParserLimitsInTheirReason() {
        func reason(_ line: [UInt8]) -> String? {
            do throws(PeerMessage.ParseError) {
                _ = try PeerMessage.parse(line)
                return nil
            } catch {
                return error.reason
            }
        }
        #expect(reason(Self.manyKeys(20_000, prefix: "{\"type\":\"hello\"")).map { $0.hasPrefix("too_many_members: ") } == true)
        #expect(reason(Self.deep).map { $0.hasPrefix("too_deep: ") } == true)
        #expect(reason(Array("nope".utf8)).map { $0.hasPrefix("invalid JSON: ") } == true)
    }

    func receiver(handshake: Int, limit: Int = 1 << 20) -> EmbeddedChannel {
        EmbeddedChannel(
            handler: ByteToMessageHandler(PeerLineDecoder(maximumLineLength: limit, handshakeLineLength: handshake, acceptsCompression: true)))
    }

    @Test func aLongFirstLineIsRefusedOnceTheHandshakeLimitHasArrived() throws {
        let channel = receiver(handshake: 1024)
        // No newline yet: refused as soon as more than the limit is in, not at the line's end.
        #expect(throws: LineTooLongError(limit: 1024)) {
            try channel.writeInbound(ByteBuffer(bytes: Array(repeating: UInt8(ascii: "x"), count: 1025)))
        }
    }

    @Test func aLongSecondLineIsRefusedToo() throws {
        let channel = receiver(handshake: 1024)
        #expect(throws: LineTooLongError(limit: 1024)) {
            try channel.writeInbound(ByteBuffer(string: "{\"type\":\"hello\"}\n" + String(repeating: "x", count: 2000) + "\n"))
        }
    }

    @Test func linesAfterTheHandshakeMayBeAsLongAsTheLineLimit() throws {
        let channel = receiver(handshake: 1024, limit: 1 << 20)
        let long = String(repeating: "y", count: 100_000)
        try channel.writeInbound(ByteBuffer(string: "hello\nproof\n" + long + "\n"))
        var lines: [String] = []
        while let l = try channel.readInbound(as: ByteBuffer.self) { lines.append(String(buffer: l)) }
        #expect(lines == ["hello", "proof", long])
    }
}

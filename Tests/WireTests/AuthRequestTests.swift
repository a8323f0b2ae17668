import Testing
import Wire

@Suite struct AuthRequestTests {
    func parse(_ s: String) throws(WireError) -> AuthRequest.Parsed {
        let bytes = Array(s.utf8)
        return try bytes.withUnsafeBufferPointer { buffer throws(WireError) in try AuthRequest.parse(buffer) }
    }

    func mayBe(_ s: String) -> Bool { Array(s.utf8).withUnsafeBufferPointer { AuthRequest.mayBeAuth($0) } }

    @Test func authRequestCarriesItsToken() throws {
        #expect(try parse(#"{"op":"auth","token":"abc"}"#) == .auth(token: "abc"))
        #expect(try parse(#"{"token":"abc","op":"auth"}"#) == .auth(token: "abc"))
        #expect(try parse(#"{"op":"status"}"#) == .other)
        #expect(try parse(#"[1]"#) == .other)
    }

    @Test func malformedAuthHasItsCode() {
        #expect(throws: WireError.self) { try parse("not json") }
        for bad in [#"{"op":"auth"}"#, #"{"op":"auth","token":""}"#, #"{"op":"auth","token":1}"#, #"{"op":"auth","token":"a","x":1}"#] {
            do {
                _ = try parse(bad)
                Issue.record("accepted \(bad)")
            } catch {
                #expect(error.code == .invalidRequest, "\(bad)")
            }
        }
        #expect(throws: WireError.self) { try parse(#"{"op":"auth","token":"\#(String(repeating: "x", count: 1025))"}"#) }
    }

    @Test func onlyLinesHoldingTheStringAuthMayBeAuth() {
        #expect(mayBe(#"{"op":"auth","token":"x"}"#))
        #expect(mayBe(#"{"op": "auth"}"#))
        #expect(!mayBe(#"{"op":"status"}"#))
        #expect(!mayBe(#"{"op":"append","event":{"data":{"author":"x"}}}"#))
        #expect(!mayBe(""))
        // At either end of the line, and cut short there.
        #expect(mayBe(#""auth""#))
        #expect(mayBe(String(repeating: "x", count: 700) + #""auth""#))
        #expect(!mayBe(String(repeating: "x", count: 700) + #""auth"#))
        #expect(!mayBe(#"auth""#))
    }

    @Test func newCodesAreStable() {
        #expect(WireErrorCode.unauthorized.rawValue == "unauthorized")
        #expect(WireErrorCode.forbidden.rawValue == "forbidden")
        #expect(WireErrorCode.tooManyConnections.rawValue == "too_many_connections")
        #expect(WireErrorCode.slowConsumer.rawValue == "slow_consumer")
        #expect(WireErrorCode.rateLimited.rawValue == "rate_limited")
        #expect(WireErrorCode.idleTimeout.rawValue == "idle_timeout")
    }
}

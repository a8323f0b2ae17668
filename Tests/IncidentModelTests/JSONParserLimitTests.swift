import IncidentModel
import Testing

/// The parser's work is linear in its input, whatever the input: it runs on lines from clients
/// that have not authenticated and on peers' hellos. Duplicate keys are found with a set once an
/// object is past a few members, members per object and depth are bounded, and each bound is
/// refused with its own kind (which the node answers with its own error code).
@Suite struct JSONParserLimitTests {
    /// `{"k0":0,"k1":0,…}` with `count` distinct keys.
    static func object(keys count: Int, extra: String = "") -> [UInt8] {
        var text = "{"
        text.reserveCapacity(count * 12)
        for i in 0..<count {
            if i > 0 { text += "," }
            text += "\"k\(i)\":0"
        }
        text += extra + "}"
        return Array(text.utf8)
    }

    static func refusal(_ bytes: [UInt8]) -> JSONParser.Error? {
        do throws(JSONParser.Error) {
            _ = try JSONParser.parse(bytes)
            return nil
        } catch {
            return error
        }
    }

    @Test func twoHundredThousandDistinctKeysAreRefusedByTheMemberBound() throws {
        let bytes = Self.object(keys: 200_000)
        let error = try #require(Self.refusal(bytes))
        #expect(error.kind == .tooManyMembers)
        #expect(error.reason == "more than 10000 members in an object")
        // At the first key past the bound, not at the end of the object.
        let firstRefused = Array("\"k\(JSONParser.maximumMembers)\"".utf8)
        let expected = bytes.firstRange(of: firstRefused)?.lowerBound
        #expect(error.offset == expected)
    }

    @Test func anObjectOfExactlyTheBoundIsAcceptedWithEveryMemberInOrder() throws {
        let value = try JSONParser.parse(Self.object(keys: JSONParser.maximumMembers))
        let members = try #require(value.objectMembers)
        #expect(members.count == JSONParser.maximumMembers)
        #expect(members.first?.key == "k0")
        #expect(members.last?.key == "k\(JSONParser.maximumMembers - 1)")
        #expect(Self.refusal(Self.object(keys: JSONParser.maximumMembers + 1))?.kind == .tooManyMembers)
    }

    @Test(arguments: [3, 15, 16, 17, 40, 9_000])
    func aDuplicateIsRefusedAtItsOffsetWhereverItIs(position: Int) throws {
        // Positions on both sides of the switch from comparing to hashing keys.
        let prefix = Self.object(keys: position).dropLast()
        let bytes = Array(prefix) + Array(",\"k1\":1}".utf8)
        let error = try #require(Self.refusal(bytes))
        #expect(error.kind == .syntax)
        #expect(error.reason == "duplicate key \"k1\"")
        #expect(error.offset == prefix.count + 1)
    }

    @Test(arguments: [2, 30])
    func canonicallyEquivalentKeysAreDuplicatesInSmallAndLargeObjects(position: Int) throws {
        // String equality is canonical equivalence, and so is its hashing: the set finds what
        // the comparison finds (é precomposed, then e + combining acute).
        let prefix = Array(Self.object(keys: position).dropLast())
        let bytes = prefix + Array(",\"\u{E9}\":1,\"e\u{301}\":2}".utf8)
        let error = try #require(Self.refusal(bytes))
        #expect(error.reason.hasPrefix("duplicate key"))
    }

    @Test func skipValueAppliesTheSameMemberBound() throws {
        let ok = Self.object(keys: JSONParser.maximumMembers)
        let end = try ok.withUnsafeBufferPointer { try JSONParser.skipValue(in: $0, from: 0) }
        #expect(end == ok.count)
        let tooMany = Self.object(keys: JSONParser.maximumMembers + 1)
        do throws(JSONParser.Error) {
            _ = try tooMany.withUnsafeBufferPointer { buffer throws(JSONParser.Error) in try JSONParser.skipValue(in: buffer, from: 0) }
            Issue.record("skipValue accepted \(JSONParser.maximumMembers + 1) members")
        } catch {
            #expect(error.kind == .tooManyMembers)
        }
    }

    @Test func nestingTooDeepHasItsOwnKind() throws {
        let deep = Array(String(repeating: "[", count: 100_000).utf8)
        #expect(Self.refusal(deep)?.kind == .tooDeep)
        let deepObjects = Array((String(repeating: "{\"a\":", count: 65) + "0" + String(repeating: "}", count: 65)).utf8)
        #expect(Self.refusal(deepObjects)?.kind == .tooDeep)
        #expect(Self.refusal(Array("[1,]".utf8))?.kind == .syntax)
    }

    @Test func manyArraysOfManyMembersStayWithinTheBounds() throws {
        // The bound is per object: a vector-sized object in each of many array elements is fine.
        let element = String(decoding: Self.object(keys: 500), as: UTF8.self)
        let text = "[" + Array(repeating: element, count: 50).joined(separator: ",") + "]"
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(value.arrayValue?.count == 50)
    }
}

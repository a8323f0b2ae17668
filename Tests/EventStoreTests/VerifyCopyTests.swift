import Crypto
import EventStore
import Foundation
import IncidentModel
import Testing

/// `EventStore.verifyCopy`, the check of a backup: the recovery scan, reading only, plus every
/// signature against its origin's key.
@Suite struct VerifyCopyTests {
    static let segment = "00000000000000000000.jsonl"

    /// One commit of 200 local events: signed at seq 64, 128, 192 and 200 (every 64th and the
    /// last); with `commits`, that many commits of one event instead, each signed.
    static func sourceLog(commits: Int? = nil) async throws -> (identity: NodeIdentity, bytes: [UInt8]) {
        try await StoreHarness.with { source in
            let store = try source.open()
            if let commits {
                for n in 1...commits { _ = try await store.append([pending(n)]) }
            } else {
                _ = try await store.append((1...200).map { pending($0) })
            }
            await store.close()
            return (source.identity, source.bytes(ofSegment: segment))
        }
    }

    /// A directory holding `bytes` as its only segment (no key, no lock: a backup's shape).
    static func withCopy<T>(_ bytes: [UInt8], _ body: (String) throws -> T) throws -> T {
        let dir = NSTemporaryDirectory() + "incidentlog-copy-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/segments", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/segments/" + segment))
        return try body(dir)
    }

    static func keys(_ identity: NodeIdentity) -> [String: Curve25519.Signing.PublicKey] { [StoreHarness.nodeID: identity.publicKey] }

    @Test func aCopyCutInsideACommitVerifiesAndOpensWithItsUnsignedTail() async throws {
        let (identity, bytes) = try await Self.sourceLog()
        let records = lines(of: bytes)
        let whole = try Self.withCopy(bytes) { try EventStore.verifyCopy(directory: $0, keys: Self.keys(identity)) }
        #expect(whole.events == 200 && whole.vector == VersionVector(["gao": 200]))
        #expect(whole.signaturesChecked == 4 && whole.unsignedTails.isEmpty && whole.uncheckedOrigins.isEmpty)
        #expect(whole.bytes == UInt64(bytes.count) && whole.segments == 1)

        // Cut after seq 150: the commit's next signed event (192) is not in the copy.
        let cut = Array(bytes[..<records[150].start])
        let prefix = try Self.withCopy(cut) { try EventStore.verifyCopy(directory: $0, keys: Self.keys(identity)) }
        #expect(prefix.events == 150 && prefix.vector == VersionVector(["gao": 150]))
        #expect(prefix.signaturesChecked == 2)
        #expect(prefix.unsignedTails == ["gao": 22])
        // Recovery asks nothing of signatures: the store opens the same prefix and signs on from it.
        try await StoreHarness.with(identity: identity) { h in
            try FileManager.default.createDirectory(atPath: h.segmentsDirectory, withIntermediateDirectories: true)
            h.write(cut, toSegment: Self.segment)
            let store = try h.open()
            #expect(store.count == 150)
            let next = try await store.append([pending(151)])
            #expect(next.map(\.id) == ["gao:151"])
            await store.close()
        }
    }

    /// A bit flipped anywhere in an event line is found: in the hashed part by its hash, in the
    /// signature by the origin's key (a flip that changes no bit of the decoded signature, in the
    /// padding bits of its last character, changes nothing to find). The copy is left as it was.
    @Test func aBitFlippedAnywhereInALineRefusesTheCopyWhichIsLeftUntouched() async throws {
        let (identity, bytes) = try await Self.sourceLog(commits: 4)
        let target = lines(of: bytes)[1]  // gao:2, signed
        let sigStart = try #require(position(of: #","sig":""#, in: target.line)).advanced(by: 8)
        let sigEnd = target.line.count - 2
        let signature = Base64.decode(target.line[sigStart..<sigEnd])
        var found = 0
        for i in 0..<target.line.count {
            for bit in [UInt8(1) << (i % 8)] {
                var damaged = bytes
                damaged[target.start + i] ^= bit
                if i >= sigStart, i < sigEnd, let s = Base64.decode(damaged[(target.start + sigStart)..<(target.start + sigEnd)]), s == signature {
                    continue
                }
                let (error, after) = try Self.withCopy(damaged) { dir -> (StoreError?, [UInt8]?) in
                    var refusal: StoreError? = nil
                    do throws(StoreError) {
                        let v = try EventStore.verifyCopy(directory: dir, keys: Self.keys(identity))
                        Issue.record("byte \(i) bit \(bit): the copy verified with \(v.events) events")
                    } catch {
                        refusal = error
                    }
                    return (refusal, FileManager.default.contents(atPath: dir + "/segments/" + Self.segment).map(Array.init))
                }
                #expect(error?.code == .corrupt, "byte \(i) bit \(bit)")
                #expect(error?.message.contains("corrupt record at byte offset \(target.start)") == true, "byte \(i) bit \(bit): \(error?.message ?? "")")
                #expect(after == damaged, "byte \(i) bit \(bit): the copy was changed")
                found += 1
            }
        }
        #expect(found > target.line.count - 4)
        // A signature that decodes but is not the origin's: named as such.
        var forged = bytes
        forged[target.start + sigStart + 10] = forged[target.start + sigStart + 10] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let message = try Self.withCopy(forged) { dir -> String in
            do throws(StoreError) {
                _ = try EventStore.verifyCopy(directory: dir, keys: Self.keys(identity))
                return "verified"
            } catch {
                return error.message
            }
        }
        #expect(message.contains("signature does not verify with gao's key (gao:2)"), "\(message)")
    }

    /// A sealed segment's damage that an open maps and serves around (a bit flipped in a line; a
    /// newline lost, which makes a damaged range) still refuses a copy, naming the segment and
    /// the first damaged line: a backup must hold every event it counts. The copy is not changed.
    @Test func damageTheOpenToleratesInASealedSegmentStillRefusesTheCopy() async throws {
        try await StoreHarness.with(options: DamagedSegmentRepairTests.options()) { h in
            let (sealed, original, records) = try await DamagedSegmentRepairTests.sealedLog(h)
            // A bit in the second line (its `id`); the first line's newline.
            for (what, line, byte) in [("a bit in a line", 1, 30), ("newline", 0, records[0].line.count)] {
                var damaged = original
                damaged[records[line].start + byte] ^= 0x01
                h.write(damaged, toSegment: sealed)
                let error = #expect(throws: StoreError.self, "\(what)") {
                    try EventStore.verifyCopy(directory: h.directory, keys: Self.keys(h.identity))
                }
                #expect(error?.code == .corrupt, "\(what)")
                #expect(
                    error?.message.hasPrefix("\(h.segmentsDirectory)/\(sealed): corrupt record at byte offset \(records[line].start): ") == true,
                    "\(what): \(error?.message ?? "")")
                #expect(h.bytes(ofSegment: sealed) == damaged, "\(what): the copy was changed")
                // The same bytes open as a store, the damage mapped.
                let opened = try h.open()
                #expect(opened.damage.segments.map(\.name) == [sealed], "\(what)")
                await opened.close()
                h.write(original, toSegment: sealed)
            }
        }
    }

    /// An open cuts a torn last line; a check of a copy refuses it and cuts nothing.
    @Test func aTornLastLineRefusesTheCopyAndIsNotCut() async throws {
        let (identity, bytes) = try await Self.sourceLog()
        let torn = Array(bytes.dropLast(40))
        try Self.withCopy(torn) { dir in
            let error = #expect(throws: StoreError.self) { try EventStore.verifyCopy(directory: dir, keys: Self.keys(identity)) }
            #expect(error?.message.contains("incomplete last line (no newline)") == true)
            #expect(FileManager.default.contents(atPath: dir + "/segments/" + Self.segment).map(Array.init) == torn)
            #expect(!FileManager.default.fileExists(atPath: dir + "/segments/" + Self.segment + ".broken"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/LOCK"))
        }
    }

    /// Without a key for an origin its signatures cannot be checked: said, not refused.
    @Test func anOriginWithoutAKeyIsReportedAndItsChainStillChecked() async throws {
        let (_, bytes) = try await Self.sourceLog()
        let v = try Self.withCopy(bytes) { try EventStore.verifyCopy(directory: $0, keys: [:]) }
        #expect(v.events == 200 && v.signaturesChecked == 0 && v.uncheckedOrigins == ["gao"])
        let other = NodeIdentity(privateKey: Curve25519.Signing.PrivateKey())
        let error = try Self.withCopy(bytes) { dir in
            #expect(throws: StoreError.self) { try EventStore.verifyCopy(directory: dir, keys: ["gao": other.publicKey]) }
        }
        #expect(error?.message.contains("signature does not verify with gao's key (gao:64)") == true)
    }
}

import Foundation
import IncidentModel
import Testing

/// Encoding an event and reading it back: the same line on disk, on the wire and in exports.
@Suite struct EventEncodingTests {
    @Test func encodedEventParsesBackToTheSameFields() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let identity = try NodeIdentity.loadOrCreate(directory: dir.path)
        let first = Event.encode(EventSamples.draft(), signer: nil)
        let draft = EventSamples.draft(seq: 2, prev: first.hash)
        let encoded = Event.encode(draft, signer: identity.privateKey)

        let parsed = try Event.parse(line: encoded.line)
        #expect(parsed.line == encoded.line)
        #expect(parsed.origin == "gao")
        #expect(parsed.seq == 2)
        #expect(parsed.id == "gao:2")
        #expect(parsed.prev == first.hash)
        #expect(parsed.hlc == HLCTimestamp(wallMillis: 1_764_388_800_000, counter: 3))
        #expect(parsed.recordedAt == "2025-11-29T04:00:00.123Z")
        #expect(parsed.type == "incident.reported")
        #expect(parsed.sector == "east")
        #expect(Array(parsed.dataBytes) == draft.data)
        #expect(parsed.hash == encoded.hash)
        #expect(parsed.signature == encoded.signature)
        #expect(parsed.signature?.count == 64)
        #expect(parsed.hashedPrefixEnd == encoded.hashedPrefixEnd)
        #expect(parsed.dataRange == encoded.dataRange)
        #expect(parsed.hashIsValid)
        #expect(encoded.hashIsValid)
    }

    @Test func lineIsOneJSONObjectWithMembersInTheDocumentedOrder() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let identity = try NodeIdentity.loadOrCreate(directory: dir.path)
        let event = Event.encode(EventSamples.draft(seq: 7, prev: EventSamples.someHash), signer: identity.privateKey)
        #expect(!event.line.contains(UInt8(ascii: "\n")))
        let object = try JSONParser.parse(event.line)
        #expect(object.objectMembers?.map(\.key)
            == ["origin", "seq", "id", "prev", "hlc", "recorded_at", "type", "sector", "data", "hash", "sig"])
        #expect(object["id"] == .string("gao:7"))
        #expect(object["seq"] == .number("7"))
        #expect(object["prev"] == .string(EventSamples.someHash.hex))
        #expect(object["hlc"] == .string("1764388800000-3"))
        #expect(object["hash"] == .string(event.hash.hex))
        #expect(Base64.decode(object["sig"]?.stringValue ?? "") == event.signature)
        #expect(object["sig"]?.stringValue?.count == 88)
        // Foundation reads the same line: it is plain JSON for jq and friends.
        let foundation = try JSONSerialization.jsonObject(with: Data(event.line)) as? [String: Any]
        #expect(foundation?["id"] as? String == "gao:7")
        #expect((foundation?["data"] as? [String: Any])?["summary"] as? String == "IED near Gao, «convoi» 🚚")
    }

    @Test func firstEventHasNoPrevAndUnsignedEventHasNoSig() throws {
        let event = Event.encode(EventSamples.draft(), signer: nil)
        let object = try JSONParser.parse(event.line)
        #expect(object.objectMembers?.map(\.key)
            == ["origin", "seq", "id", "hlc", "recorded_at", "type", "sector", "data", "hash"])
        let parsed = try Event.parse(line: event.line)
        #expect(parsed.prev == nil)
        #expect(parsed.signature == nil)
    }

    @Test func lineAndHashMatchAnIndependentlyComputedVector() {
        // Every hash in every deployed log depends on these bytes: a change to the line format,
        // the canonical data or the hash rule must be deliberate. The expected hash was computed
        // outside Swift: sha256(<line up to ,"hash":> + "}") with Python's hashlib.
        let event = Event.encode(EventSamples.draft(seq: 2, prev: EventSamples.someHash), signer: nil)
        let prefix = #"{"origin":"gao","seq":2,"id":"gao:2","prev":"0123456789abcdef00000000000000010000000000000002fedcba9876543210","#
            + #""hlc":"1764388800000-3","recorded_at":"2025-11-29T04:00:00.123Z","type":"incident.reported","sector":"east","#
            + #""data":{"incident_id":"4f1c","location":{"name":"Gao"},"summary":"IED near Gao, «convoi» 🚚"}"#
        let hash = "18f0257794563bce86cb61d7ee09a89c4d5b24bad87c8297e79311777bab01dd"
        #expect(String(decoding: event.line, as: UTF8.self) == prefix + #","hash":"\#(hash)"}"#)
        #expect(event.hash.hex == hash)
        #expect(event.hashedPrefixEnd == prefix.utf8.count)
    }

    @Test func hashCoversTheLineUpToTheHashMember() {
        let event = Event.encode(EventSamples.draft(), signer: nil)
        let prefix = Array(event.line[..<event.hashedPrefixEnd])
        #expect(String(decoding: event.line[event.hashedPrefixEnd...], as: UTF8.self).hasPrefix(",\"hash\":\""))
        // The hashed bytes are themselves a complete JSON object once closed.
        #expect(throws: Never.self) { try JSONParser.parse(prefix + [UInt8(ascii: "}")]) }
        let other = Event.encode(EventSamples.draft(data: #"{"incident_id":"4f1d"}"#), signer: nil)
        #expect(other.hash != event.hash)
    }

    @Test func hashIsInvalidAfterChangingOneByteOfData() throws {
        let event = Event.encode(EventSamples.draft(), signer: nil)
        let tampered = EventSamples.replacing("IED near Gao", with: "IED near Gap", in: event.line)
        #expect(tampered.count == event.line.count)
        let parsed = try Event.parse(line: tampered)
        #expect(!parsed.hashIsValid)
        #expect(try Event.parse(line: event.line).hashIsValid)
    }

    @Test func noSingleByteChangeBeforeTheSignatureGoesUnnoticed() throws {
        // Every byte of the envelope, the data and the hash is covered: a change either breaks
        // the line's syntax or the hash.
        let event = Event.encode(EventSamples.draft(seq: 2, prev: EventSamples.someHash), signer: nil)
        for position in event.line.indices {
            for mask: UInt8 in [0x01, 0x20, 0x80] {
                var line = event.line
                line[position] ^= mask
                if let parsed = try? Event.parse(line: line), parsed.hashIsValid {
                    Issue.record("byte \(position) ^ \(mask) went unnoticed: \(String(decoding: line, as: UTF8.self))")
                }
            }
        }
    }

    @Test func signatureVerifiesWithTheOriginKeyOnlyAndOnlyForItsHash() throws {
        let dirs = try (TemporaryDirectory(), TemporaryDirectory())
        defer { dirs.0.remove(); dirs.1.remove() }
        let node = try NodeIdentity.loadOrCreate(directory: dirs.0.path)
        let stranger = try NodeIdentity.loadOrCreate(directory: dirs.1.path)
        let event = try Event.parse(line: Event.encode(EventSamples.draft(), signer: node.privateKey).line)
        #expect(event.signatureIsValid(publicKey: node.publicKey))
        #expect(!event.signatureIsValid(publicKey: stranger.publicKey))
        let forged = try Event.parse(line: Event.encode(EventSamples.draft(), signer: stranger.privateKey).line)
        #expect(!forged.signatureIsValid(publicKey: node.publicKey))
        // Moving a valid signature onto another event does not make that event valid.
        let otherDraft = EventSamples.draft(data: #"{"incident_id":"other"}"#)
        let other = Event.encode(otherDraft, signer: nil)
        let sigText = Base64.encode(event.signature!)
        let grafted = Array(other.line.dropLast()) + Array(",\"sig\":\"\(sigText)\"}".utf8)
        let graftedEvent = try Event.parse(line: grafted)
        #expect(graftedEvent.signature == event.signature)
        #expect(!graftedEvent.signatureIsValid(publicKey: node.publicKey))
        // An unsigned event has nothing to verify.
        #expect(!other.signatureIsValid(publicKey: node.publicKey))
    }
}

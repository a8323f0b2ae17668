import IncidentModel
import Testing

/// `Event.parse(line:checkingData: false)`, the read-back of a stored line for the incident
/// views: the same event as the checking parse for every line the store could hold, and the
/// envelope still read strictly.
@Suite struct EventReadBackTests {
    static func fields(_ e: Event) -> [String] {
        [
            e.origin, "\(e.seq)", "\(String(describing: e.prev))", "\(e.hlc)", e.recordedAt, e.type, e.sector,
            "\(e.dataRange)", "\(e.hash)", "\(String(describing: e.signature))", "\(e.hashedPrefixEnd)",
        ]
    }

    /// Payloads whose members look like the envelope's tail (a `hash` or `sig` member, nested
    /// objects, strings holding quotes and braces), signed and not.
    @Test(arguments: [
        EventSamples.data,
        #"{"hash":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","incident_id":"x"}"#,
        #"{"a":{"sig":"AAAA","hash":"x"},"summary":"\",\"hash\":\"}"}"#,
        #"{"location":{"lat":16.27,"lon":-0.04,"name":"Gao"},"summary":"}}]]"}"#,
        "{}",
    ])
    func theReadBackIsTheCheckedParse(data: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let identity = try NodeIdentity.loadOrCreate(directory: dir.path)
        for seq: UInt64 in [1, 2] {
            let draft = EventSamples.draft(seq: seq, prev: seq == 1 ? nil : EventSamples.someHash, data: data)
            for signer in [nil, identity.privateKey] {
                let line = Event.encode(draft, signer: signer).line
                let checked = try Event.parse(line: line)
                let readBack = try Event.parse(line: line, checkingData: false)
                #expect(Self.fields(readBack) == Self.fields(checked))
                #expect(readBack.line == line)
            }
        }
    }

    @Test func theEnvelopeIsStillReadStrictly() {
        let line = Event.encode(EventSamples.draft(), signer: nil).line
        let swapped = EventSamples.replacing(#""type":"incident.reported","sector":"east""#, with: #""sector":"east","type":"incident.reported""#, in: line)
        #expect(throws: EventParseError.self) { try Event.parse(line: swapped, checkingData: false) }
        #expect(throws: EventParseError.self) { try Event.parse(line: Array(line.dropLast()), checkingData: false) }
    }
}

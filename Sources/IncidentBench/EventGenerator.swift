import IncidentClient
public import IncidentModel

/// Realistic events for benchmarks and load tests, from the mission's sites
/// (shared/data/sites.csv) and the catalogue (shared/EVENT-TYPES.md), reproducible from a seed.
///
/// Incidents are reported first and later events (updates, casualties, medevacs) name incidents
/// generated before them, as in the field. Events average about 500 bytes stored.
public struct EventGenerator {
    public struct Site: Sendable {
        public var name: String
        public var sector: String
        public var region: String
        public var lat: Double
        public var lon: Double
    }

    /// shared/data/sites.csv, as of this writing.
    public static let sites: [Site] = [
        Site(name: "Bamako", sector: "bamako", region: "Bamako", lat: 12.65, lon: -8.0),
        Site(name: "Kidal", sector: "north", region: "Kidal", lat: 18.44111, lon: 1.40778),
        Site(name: "Tessalit", sector: "north", region: "Kidal", lat: 20.20126, lon: 1.01186),
        Site(name: "Aguelhok", sector: "north", region: "Kidal", lat: 19.46139, lon: 0.85889),
        Site(name: "Gao", sector: "east", region: "Gao", lat: 16.27167, lon: -0.04472),
        Site(name: "Ansongo", sector: "east", region: "Gao", lat: 15.6597, lon: 0.5022),
        Site(name: "Menaka", sector: "east", region: "Menaka", lat: 15.9182, lon: 2.4022),
        Site(name: "Timbuktu", sector: "west", region: "Tombouctou", lat: 16.77348, lon: -3.00742),
        Site(name: "Goundam", sector: "west", region: "Tombouctou", lat: 16.41453, lon: -3.67075),
        Site(name: "Ber", sector: "west", region: "Tombouctou", lat: 16.834927, lon: -2.531944),
        Site(name: "Gossi", sector: "west", region: "Tombouctou", lat: 15.822994, lon: -1.300646),
        Site(name: "Lere", sector: "west", region: "Tombouctou", lat: 15.718784, lon: -4.90134),
        Site(name: "Mopti-Sevare", sector: "centre", region: "Mopti", lat: 14.52742, lon: -4.09344),
        Site(name: "Douentza", sector: "centre", region: "Mopti", lat: 15.00155, lon: -2.94978),
        Site(name: "Diabaly", sector: "centre", region: "Segou", lat: 14.6937, lon: -6.0197),
        Site(name: "Boulikessi", sector: "centre", region: "Mopti", lat: 14.95, lon: -1.40),
        Site(name: "Konna", sector: "centre", region: "Mopti", lat: 14.95, lon: -3.88),
    ]

    /// The sectors of `sites`, each once, in order of first appearance.
    public static let sectors: [String] = sites.reduce(into: []) { list, site in
        if !list.contains(site.sector) { list.append(site.sector) }
    }

    var rng: SplitMix64
    var incidents: [(id: String, sector: String)] = []
    var medevacs: [String] = []
    var consignments: [String] = []
    var counter = 0
    /// Base of `occurred_at` times (ms since epoch).
    let baseMillis: Int64

    public init(seed: UInt64, baseMillis: Int64 = 1_764_374_400_000) {
        rng = SplitMix64(seed: seed)
        self.baseMillis = baseMillis
    }

    /// The next event as a `{"type","sector","data"}` object.
    public mutating func next() -> (type: EventType, sector: String, data: JSONValue) {
        counter += 1
        let roll = Int(rng.next() % 100)
        if incidents.isEmpty || roll < 30 { return incidentReported() }
        if roll < 40 { return casualties() }
        if roll < 48 { return incidentUpdated() }
        if roll < 53 { return verified() }
        if roll < 58 { return closed() }
        if roll < 60 { return retracted() }
        if roll < 66 { return medevacRequested() }
        if roll < 71, !medevacs.isEmpty { return medevacDispatched() }
        if roll < 75, !medevacs.isEmpty { return medevacCompleted() }
        if roll < 80 { return materialDispatched() }
        if roll < 84, !consignments.isEmpty { return materialDelivered() }
        if roll < 88 { return personnelMoved() }
        if roll < 93 { return pollingStation() }
        return sighting()
    }

    /// The next event as the JSON bytes a client sends.
    public mutating func nextObject() -> [UInt8] {
        let e = next()
        return Requests.event(type: e.type.rawValue, sector: e.sector, data: e.data)
    }

    /// A `medevac.requested` event naming an incident this generator produced before (one is
    /// generated first, not sent, when there is none), as the JSON bytes a client sends.
    public mutating func nextMedevacRequestObject() -> [UInt8] {
        if incidents.isEmpty { _ = next() }
        counter += 1
        let e = medevacRequested()
        return Requests.event(type: e.0.rawValue, sector: e.1, data: e.2)
    }

    mutating func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
    mutating func site() -> Site { pick(Self.sites) }
    mutating func uuid() -> String {
        let a = rng.next(), b = rng.next()
        func hex(_ v: UInt64, _ n: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, n - s.count)) + s.suffix(n)
        }
        return "\(hex(a >> 32, 8))-\(hex(a >> 16 & 0xFFFF, 4))-4\(hex(a & 0xFFF, 3))-\(hex(8 | b >> 62, 1))\(hex(b >> 48 & 0xFFF, 3))-\(hex(b & 0xFFFF_FFFF_FFFF, 12))"
    }
    mutating func time() -> String {
        RFC3339.format(millis: baseMillis + Int64(counter) * 60_000 + Int64(rng.next() % 60_000))
    }
    mutating func location(_ s: Site) -> JSONValue {
        let dlat = Double(Int(rng.next() % 2000) - 1000) / 10_000
        let dlon = Double(Int(rng.next() % 2000) - 1000) / 10_000
        return .object([
            ("name", .string("\(s.name) road, km \(rng.next() % 90 + 1)")), ("lat", .number(Self.fmt(s.lat + dlat))),
            ("lon", .number(Self.fmt(s.lon + dlon))), ("admin1", .string(s.region)), ("precision", .string("near")),
        ])
    }
    static func fmt(_ d: Double) -> String {
        let scaled = (d * 10_000).rounded() / 10_000
        return "\(scaled)"
    }
    mutating func counts(_ max: UInt64) -> JSONValue {
        .object([
            ("killed", .number("\(rng.next() % max)")), ("wounded", .number("\(rng.next() % (max * 2))")),
            ("missing", .number("\(rng.next() % 2)")),
        ])
    }
    mutating func anyIncident() -> (id: String, sector: String) { pick(incidents) }

    static let summaries = [
        "IED struck the lead vehicle of a logistics convoy; convoy halted and perimeter secured by the escort",
        "Rockets fired at the camp from the north-east; two impacts inside the perimeter, no structural damage",
        "Armed men on motorbikes ambushed a patrol near the wadi; exchange of fire lasted about twenty minutes",
        "Villagers report an attack on the weekly market by unidentified gunmen; several stalls burned",
        "Suspicious object found under a culvert by a foot patrol; EOD team requested to the location",
        "Clash between two armed groups reported by community liaison; displacement of families observed",
    ]

    mutating func incidentReported() -> (EventType, String, JSONValue) {
        let s = site()
        let id = uuid()
        incidents.append((id, s.sector))
        return (
            .incidentReported, s.sector,
            .object([
                ("incident_id", .string(id)), ("category", .string(pick(Vocabulary.incidentCategories))),
                ("summary", .string(pick(Self.summaries))), ("occurred_at", .string(time())),
                ("time_precision", .string("minute")), ("location", location(s)),
                ("actors", .array([.string("unidentified armed group")])),
                ("source", .string("sector \(s.sector) J2 duty officer")),
                ("confidence", .string(pick(Vocabulary.confidences))),
            ])
        )
    }
    mutating func casualties() -> (EventType, String, JSONValue) {
        let i = anyIncident()
        return (
            .casualtiesReported, i.sector,
            .object([
                ("incident_id", .string(i.id)), ("peacekeepers", counts(3)), ("national_forces", counts(3)),
                ("civilians", counts(5)), ("armed_groups", counts(4)),
            ])
        )
    }
    mutating func incidentUpdated() -> (EventType, String, JSONValue) {
        let i = anyIncident()
        return (
            .incidentUpdated, i.sector,
            .object([
                ("incident_id", .string(i.id)),
                (
                    "changes",
                    .object([
                        ("summary", .string(pick(Self.summaries) + " (updated after debrief)")),
                        ("confidence", .string(pick(Vocabulary.confidences))),
                    ])
                ),
                ("reason", .string("patrol debrief received")),
            ])
        )
    }
    mutating func verified() -> (EventType, String, JSONValue) {
        let i = anyIncident()
        return (
            .incidentVerified, i.sector,
            .object([
                ("incident_id", .string(i.id)), ("status", .string(pick(Vocabulary.verificationStatuses))),
                ("basis", .string("confirmed by two independent sources and imagery")),
            ])
        )
    }
    mutating func closed() -> (EventType, String, JSONValue) {
        let i = anyIncident()
        return (.incidentClosed, i.sector, .object([("incident_id", .string(i.id)), ("reason", .string("site cleared"))]))
    }
    mutating func retracted() -> (EventType, String, JSONValue) {
        let i = anyIncident()
        return (
            .incidentRetracted, i.sector,
            .object([("incident_id", .string(i.id)), ("reason", .string(pick(Vocabulary.retractionReasons)))])
        )
    }
    mutating func medevacRequested() -> (EventType, String, JSONValue) {
        let i = anyIncident()
        let id = uuid()
        medevacs.append(id)
        let s = Self.sites.first { $0.sector == i.sector } ?? site()
        return (
            .medevacRequested, i.sector,
            .object([
                ("medevac_id", .string(id)), ("incident_id", .string(i.id)),
                ("priority", .string(pick(Vocabulary.medevacPriorities))), ("patients", .number("\(rng.next() % 4 + 1)")),
                ("pickup", location(s)),
            ])
        )
    }
    mutating func medevacDispatched() -> (EventType, String, JSONValue) {
        (
            .medevacDispatched, pick(Sectors.defaultList),
            .object([("medevac_id", .string(pick(medevacs))), ("asset", .string("CASEVAC helicopter \(rng.next() % 4 + 1)"))])
        )
    }
    mutating func medevacCompleted() -> (EventType, String, JSONValue) {
        (
            .medevacCompleted, pick(Sectors.defaultList),
            .object([
                ("medevac_id", .string(pick(medevacs))), ("outcome", .string(pick(Vocabulary.medevacOutcomes))),
                ("facility", .string("Level 2 hospital, Gao")),
            ])
        )
    }
    mutating func materialDispatched() -> (EventType, String, JSONValue) {
        let s = site()
        let id = uuid()
        consignments.append(id)
        return (
            .electionMaterialDispatched, s.sector,
            .object([
                ("consignment_id", .string(id)),
                (
                    "items",
                    .object([
                        ("ballot_papers", .number("\(rng.next() % 50_000)")),
                        ("ballot_boxes", .number("\(rng.next() % 200)")), ("tally_sheets", .number("\(rng.next() % 500)")),
                    ])
                ),
                ("to", location(s)), ("mode", .string(pick(Vocabulary.transportModes))),
            ])
        )
    }
    mutating func materialDelivered() -> (EventType, String, JSONValue) {
        (
            .electionMaterialDelivered, pick(Sectors.defaultList),
            .object([("consignment_id", .string(pick(consignments))), ("seals_intact", .bool(rng.next() % 10 != 0))])
        )
    }
    mutating func personnelMoved() -> (EventType, String, JSONValue) {
        let s = site()
        return (
            .electionPersonnelMoved, s.sector,
            .object([("count", .number("\(rng.next() % 40 + 1)")), ("to", location(s)), ("role", .string("polling staff"))])
        )
    }
    mutating func pollingStation() -> (EventType, String, JSONValue) {
        let s = site()
        let n = rng.next() % 40
        return (
            .pollingStationStatus, s.sector,
            .object([
                ("station_id", .string("\(s.name.lowercased())-ps-\(n)")), ("name", .string("\(s.name) school \(n)")),
                ("status", .string(pick(Vocabulary.pollingStationStatuses))), ("location", location(s)),
            ])
        )
    }
    mutating func sighting() -> (EventType, String, JSONValue) {
        let s = site()
        return (
            .intelSighting, s.sector,
            .object([
                ("sighting_id", .string(uuid())), ("kind", .string(pick(Vocabulary.sightingKinds))),
                ("source", .string(pick(Vocabulary.sightingSources))), ("location", location(s)),
                ("confidence", .string(pick(Vocabulary.confidences))),
            ])
        )
    }
}

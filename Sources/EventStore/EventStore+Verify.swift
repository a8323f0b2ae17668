@preconcurrency public import Crypto
public import IncidentModel
import Logging

/// What `EventStore.verifyCopy` found in a copy of a data directory that passed every check.
public struct LogVerification: Sendable {
    /// Events in the copy.
    public var events: UInt64
    /// Per origin, the highest seq held (the version vector a node restored from the copy says
    /// in its hello).
    public var vector: VersionVector
    /// Per origin whose newest events carry no `sig`, how many of them follow its last signed
    /// event. Their hashes and chain are checked; no signature vouches for them yet. The origin's
    /// next signed event does, through the chain (docs/STORAGE.md, "Event lines").
    public var unsignedTails: [String: UInt64]
    /// Signatures checked against their origin's key.
    public var signaturesChecked: Int
    /// Origins with signed events and no key to check them with (sorted).
    public var uncheckedOrigins: [String]
    public var segments: Int
    /// Bytes of event lines in the segment files.
    public var bytes: UInt64
}

extension EventStore {
    /// Checks a copy of a data directory (a backup) with the code that opens a store, reading
    /// only: every line parses, its hash matches its bytes, every origin's chain is gapless and
    /// linked, segment names match their offsets, and every `sig` verifies with its origin's key
    /// in `keys` (an origin missing from `keys` is reported, not refused). Unlike an open, nothing
    /// is cut, created or repaired and no lock is taken: a torn last line refuses the copy like
    /// any other damage (a backup is written whole, then fsynced, before it is checked), and so
    /// does a sealed segment's damage that an open would map and serve around (a backup must hold
    /// every event it counts). The error names the first line that fails.
    public static func verifyCopy(directory: String, keys: [String: Curve25519.Signing.PublicKey]) throws(StoreError) -> LogVerification {
        let segmentsDirectory = directory + "/segments"
        let segments = try Recovery.segmentFiles(segmentsDirectory)
        guard !segments.isEmpty else { throw StoreError(.corrupt, "\(segmentsDirectory): no segment file") }
        let scan = try Recovery.scan(
            segmentsDirectory: segmentsDirectory, segments: segments, mode: .verify(keys: keys), options: StoreOptions(),
            logger: Logger(label: "incidentlog.verify", factory: { _ in SwiftLogNoOpLogHandler() }))
        var vector = VersionVector()
        var unsignedTails: [String: UInt64] = [:]
        for entry in scan.chains.entries where entry.seq > 0 {
            vector[entry.name] = entry.seq
            if entry.lastSigned < entry.seq { unsignedTails[entry.name] = entry.seq - entry.lastSigned }
        }
        return LogVerification(
            events: scan.count, vector: vector, unsignedTails: unsignedTails, signaturesChecked: scan.signaturesChecked,
            uncheckedOrigins: scan.unkeyedOrigins.sorted(), segments: scan.segments.count,
            bytes: scan.segments.reduce(0) { $0 + $1.size })
    }
}

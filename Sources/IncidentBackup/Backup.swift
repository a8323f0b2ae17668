@preconcurrency import Crypto
import Dispatch
public import EventStore
public import IncidentClient
import IncidentModel
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// `incidentctl backup DIR`: a copy of a running node's log, taken over the client API, checked
/// as the store checks a log it opens before it is declared good.
///
/// 1. Refuse a DIR that exists and is not an empty directory (nothing is written).
/// 2. `status` fixes the end: the node's event count at that moment. The store publishes whole
///    commits, so the end never falls inside one; events appended after it are not in the
///    backup (sync brings them to a restored node).
/// 3. `read` pages from offset 0 up to the end, written as they arrive into segment files beside
///    DIR (format at the top of BackupDirectory.swift), then fsynced.
/// 4. `EventStore.verifyCopy` checks the copy: every line and hash, every origin's chain, the
///    segment names, and every `sig` against its origin's key from the node's trust list
///    (`status`'s `trust`). A copy that fails, or holds other than the end's count, is removed
///    and reported; one that passes is renamed to DIR.
///
/// Any role that may read may back up: a backup holds the stored lines `read` and `export` give
/// every role, and no key or token.
public enum Backup {
    public static func run(_ options: BackupOptions) async throws -> BackupSummary {
        let place = try BackupDirectory(target: options.directory)
        let started = ContinuousClock.now
        let copied = try await IncidentConnection.withConnection(to: options.endpoint) { connection in
            let status = try await connection.request(Requests.status)
            guard let node = status["node"]?.stringValue, let publicKey = status["public_key"]?.stringValue,
                let end = status["events"]?.integerValue.map(UInt64.init)
            else { throw BackupError(.node, "the node's status lacks node, public_key or events") }
            // A node serving around damage does not hold every event it counts: say so, write nothing.
            let damaged = (status["damage"]?["segments"]?.arrayValue ?? []).filter { $0["state"]?.stringValue != "repaired" }
            if !damaged.isEmpty {
                let missing = damaged.flatMap { ($0["missing"]?.arrayValue ?? []).compactMap(\.stringValue) }
                let lost = (status["damage"]?["lost"]?.arrayValue ?? []).compactMap(\.stringValue)
                var text = "the node has \(damaged.count) damaged segment(s) not yet repaired"
                if !missing.isEmpty { text += ", missing \(missing.prefix(8).joined(separator: ", "))\(missing.count > 8 ? " …" : "")" }
                if !lost.isEmpty { text += " (lost: \(lost.prefix(8).joined(separator: ", ")))" }
                text += "; a backup must hold every event the node counts: back it up once `incidentctl status` shows the repair done, or back up a peer that holds the events"
                throw BackupError(.node, text)
            }
            // A node without `trust` in its status vouches only for its own key.
            var trust = [node: publicKey]
            for (origin, key) in status["trust"]?.objectMembers ?? [] { trust[origin] = key.stringValue }
            try place.create()
            var writer = SegmentFileWriter(directory: place.temporary + "/segments", segmentBytes: options.segmentBytes)
            do {
                var next: UInt64 = 0
                while next < end {
                    try await connection.send(Requests.read(from: next, limit: Int(min(UInt64(max(1, options.pageEvents)), end - next))))
                    let (lines, after) = try RawEvents.split(readResponse: try await connection.receiveResponse())
                    guard !lines.isEmpty, after == next + UInt64(lines.count) else {
                        throw BackupError(.node, "the node's log ended at offset \(next), before the backup's end \(end)")
                    }
                    try writer.write(lines, firstOffset: next)
                    next = after
                    options.progress?(
                        BackupProgress(phase: .reading, events: next, total: end, bytes: writer.bytes, elapsed: started.duration(to: .now)))
                }
                try writer.finish()
                options.progress?(BackupProgress(phase: .checking, events: end, total: end, bytes: writer.bytes, elapsed: started.duration(to: .now)))
            } catch {
                writer.abandon()
                place.removeTemporary()
                throw error
            }
            return Copied(node: node, publicKey: publicKey, end: end, trust: trust)
        }
        do {
            try place.syncSegments()
            options.beforeVerify?(place.temporary)
            let keys = copied.trust.compactMapValues(NodeIdentity.publicKey(base64:))
            let verification = try await verify(place.temporary, keys: keys)
            guard verification.events == copied.end else {
                throw BackupError(.bad, "the copy holds \(verification.events) events, not the \(copied.end) read")
            }
            try place.writeManifest(Self.manifest(copied, vector: verification.vector))
            try place.commit()
            return BackupSummary(
                node: copied.node, directory: place.target, verification: verification, elapsed: started.duration(to: .now))
        } catch {
            place.removeTemporary()
            throw error
        }
    }

    struct Copied: Sendable {
        var node: String
        var publicKey: String
        var end: UInt64
        var trust: [String: String]
    }

    /// The store's check of the copy, on a thread of its own (it spreads over every core and
    /// blocks until done).
    static func verify(_ directory: String, keys: [String: Curve25519.Signing.PublicKey]) async throws -> LogVerification {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<LogVerification, StoreError>, Never>) in
            DispatchQueue.global().async {
                c.resume(returning: Result { () throws(StoreError) in try EventStore.verifyCopy(directory: directory, keys: keys) })
            }
        }
        do {
            return try result.get()
        } catch {
            // Named within the copy: the temporary directory is removed.
            throw BackupError(.bad, "in the copy, " + error.message.replacing(directory + "/", with: ""))
        }
    }

    /// `backup.json` (format at the top of BackupDirectory.swift).
    static func manifest(_ copied: Copied, vector: VersionVector) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"format\":1,\"node\":")
        w.string(copied.node)
        w.raw(",\"public_key\":")
        w.string(copied.publicKey)
        w.raw(",\"taken_at\":")
        w.string(RFC3339.format(millis: Int64(HybridLogicalClock.systemMillis())))
        w.raw(",\"events\":")
        w.integer(copied.end)
        w.raw(",\"vector\":")
        vector.write(to: &w)
        w.raw(",\"trust\":")
        w.object(strings: copied.trust)
        w.raw("}\n")
        return w.bytes
    }
}

public struct BackupOptions: Sendable {
    public var endpoint: IncidentEndpoint
    /// The backup's directory: new, or empty.
    public var directory: String
    /// Segment files of the copy are closed once they reach this size.
    public var segmentBytes: UInt64 = 64 << 20
    /// Events asked for in one `read` (a response also stops at the node's
    /// `max_pending_output_bytes`).
    public var pageEvents = ClientRequest.maximumReadLimit
    /// Called after each page read.
    public var progress: (@Sendable (BackupProgress) -> Void)? = nil
    /// Test seam: called with the temporary directory once the copy is written and fsynced,
    /// before it is checked (a test damages it here).
    public var beforeVerify: (@Sendable (String) -> Void)? = nil

    public init(endpoint: IncidentEndpoint, directory: String) {
        self.endpoint = endpoint
        self.directory = directory
    }
}

/// How far a backup is.
public struct BackupProgress: Sendable {
    public enum Phase: Sendable {
        /// Reading the log from the node: `events` of `total` are written.
        case reading
        /// Every event is written; the copy is being checked.
        case checking
    }
    public var phase: Phase
    public var events: UInt64
    public var total: UInt64
    public var bytes: UInt64
    public var elapsed: Duration
}

/// A backup that was checked and put in place.
public struct BackupSummary: Sendable {
    public var node: String
    public var directory: String
    public var verification: LogVerification
    public var elapsed: Duration

    public var milliseconds: Int64 { elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000 }

    /// `{"ok":true,"dir":…,"node":…,"events":N,"vector":{…},"bytes":N,"segments":N,
    /// "signatures_checked":N,"unsigned_tail":{origin:N},"unchecked_origins":[…],"elapsed_ms":N}`
    public var json: [UInt8] {
        let v = verification
        var w = JSONWriter()
        w.raw("{\"ok\":true,\"dir\":")
        w.string(directory)
        w.raw(",\"node\":")
        w.string(node)
        w.raw(",\"events\":")
        w.integer(v.events)
        w.raw(",\"vector\":")
        v.vector.write(to: &w)
        w.raw(",\"bytes\":")
        w.integer(v.bytes)
        w.raw(",\"segments\":")
        w.integer(v.segments)
        w.raw(",\"signatures_checked\":")
        w.integer(v.signaturesChecked)
        w.raw(",\"unsigned_tail\":")
        VersionVector(v.unsignedTails).write(to: &w)
        w.raw(",\"unchecked_origins\":[")
        for (i, origin) in v.uncheckedOrigins.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.string(origin)
        }
        w.raw("],\"elapsed_ms\":")
        w.integer(milliseconds)
        w.raw("}")
        return w.bytes
    }
}

/// Why a backup was refused or failed, with a stable code for scripts (`--json`).
public struct BackupError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// DIR exists and is not an empty directory (or is not a directory); nothing was written.
        case notEmpty = "not_empty"
        /// The copy failed its checks; it was removed, DIR is untouched.
        case bad = "bad_backup"
        /// A file or directory could not be written.
        case io = "io_error"
        /// The node answered other than a backup needs.
        case node = "node_error"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { code == .bad ? "backup BAD, not kept (the directory is untouched): \(message)" : message }
}

import Crypto
import Dispatch
public import IncidentModel

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Projection snapshot file (one file, e.g. `<data dir>/projections.snapshot`):
//
//   offset  size  field
//   0       8     magic "ILPROJ\r\n" — the CR LF catches a file mangled by text-mode transfers
//   8       4     projection format version, UInt32 little-endian (`ProjectionSnapshot.formatVersion`)
//   12      4     reserved, zero (anything else is a damaged header)
//   16      8     payload length in bytes, UInt64 little-endian
//   24      32    SHA-256 of the payload
//   56      …     payload
//
// The payload is the folded state, field by field: little-endian fixed-width integers, strings
// as a UInt32 byte count and UTF-8, lists as a UInt32 count and their elements. In order: the
// caller's log offset, the event count, the configured sector list the state was folded with
// (validation depends on it: another list refuses the snapshot), the quarantined-event count and
// sample (id, reason), the origin table (name, seq, hlc, recorded_at of the
// newest event of each — which is also the version vector covered), the sector and item-name
// tables, the incident history nodes, the incident, medevac, consignment and polling-station
// records, the (sector, day) buckets and the disputed incidents (ProjectionState+Snapshot.swift
// writes and reads them). The incidents list's index is not stored: loading rebuilds it from
// the incident records by one sort (IncidentListIndex.swift). Loading gives back exactly the
// state that was saved, so views are byte-identical and further events fold as if there had been
// no snapshot.
//
// Writing: the bytes go to `<path>.tmp`, which is fsynced, renamed over `<path>`, and the
// directory is fsynced; a crash leaves the old snapshot or the new one, never a mix.
// Loading refuses (throws) a file with another magic, another format version, a wrong length or
// checksum, or a payload that does not decode; the caller then rebuilds from the log. The format
// version changes whenever the payload layout or the meaning of the fold changes.

/// Saving and loading the projection state.
public enum ProjectionSnapshot {
    public static let formatVersion: UInt32 = 2
    static let magic: [UInt8] = Array("ILPROJ\r\n".utf8)
    static let headerSize = 56

    /// A loaded snapshot.
    public struct Loaded: Sendable {
        public var state: ProjectionState
        /// What the state covers: per origin, the highest seq folded.
        public var versionVector: VersionVector
        /// The local log offset given when it was saved: every event below it was folded.
        public var logOffset: UInt64
    }

    /// The snapshot file's bytes.
    public static func encode(_ state: ProjectionState, logOffset: UInt64) -> [UInt8] {
        let payload = state.encodePayload(logOffset: logOffset)
        var out: [UInt8] = []
        out.reserveCapacity(headerSize + payload.count)
        out.append(contentsOf: magic)
        var w = BinaryWriter()
        w.put(formatVersion)
        w.put(UInt32(0))
        w.put(UInt64(payload.count))
        out.append(contentsOf: w.bytes)
        out.append(contentsOf: SHA256.hash(data: payload))
        out.append(contentsOf: payload)
        return out
    }

    /// Reads a snapshot file's bytes.
    public static func decode(_ bytes: [UInt8], sectors: [String] = Sectors.defaultList)
        throws(ProjectionSnapshotError) -> Loaded
    {
        guard bytes.count >= headerSize, Array(bytes[0..<8]) == magic else {
            throw ProjectionSnapshotError(.notASnapshot, "no projection snapshot header")
        }
        return try bytes.withUnsafeBufferPointer { all throws(ProjectionSnapshotError) in
            var header = BinaryReader(UnsafeBufferPointer(rebasing: all[8..<24]))
            let version: UInt32 = try header.get()
            let reserved: UInt32 = try header.get()
            let length: UInt64 = try header.get()
            guard version == formatVersion else {
                throw ProjectionSnapshotError(
                    .versionMismatch, "snapshot has projection format \(version), this node folds format \(formatVersion)")
            }
            guard reserved == 0 else { throw ProjectionSnapshotError(.checksumMismatch, "damaged header") }
            guard length == UInt64(all.count - headerSize) else {
                throw ProjectionSnapshotError(
                    .checksumMismatch, "payload is \(all.count - headerSize) bytes, header says \(length)")
            }
            let payload = UnsafeBufferPointer(rebasing: all[headerSize...])
            // The checksum is computed on a second core while this one decodes; the state is
            // used only once the checksum holds. Decoding unchecked bytes is safe: every read and
            // every index is checked (ProjectionState+Snapshot.swift).
            let work = LoadWork(payload: payload, sectors: sectors)
            DispatchQueue.concurrentPerform(iterations: 2) { part in
                if part == 0 {
                    work.digest = Array(SHA256.hash(data: UnsafeRawBufferPointer(work.payload)))
                } else {
                    work.decoded = Result { () throws(ProjectionSnapshotError) in
                        try ProjectionState.decodePayload(work.payload, sectors: work.sectors)
                    }
                }
            }
            guard work.digest == Array(all[24..<56]) else {
                throw ProjectionSnapshotError(.checksumMismatch, "payload does not match its SHA-256")
            }
            guard let decoded = work.decoded else { throw .malformed("payload not decoded") }
            let (state, logOffset) = try decoded.get()
            return Loaded(state: state, versionVector: state.versionVector, logOffset: logOffset)
        }
    }

    /// Writes the snapshot durably: `<path>.tmp`, fsync, rename, fsync of the directory.
    public static func write(_ state: ProjectionState, logOffset: UInt64, to path: String) throws(ProjectionSnapshotError) {
        let bytes = encode(state, logOffset: logOffset)
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("cannot create \(tmp)") }
        var written = 0
        let ok: Bool = bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = posixWrite(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                written += n
            }
            return true
        }
        guard ok, fsync(fd) == 0 else {
            let e = ProjectionSnapshotError.io("cannot write \(tmp)")
            close(fd)
            unlink(tmp)
            throw e
        }
        guard close(fd) == 0 else { throw .io("cannot close \(tmp)") }
        guard rename(tmp, path) == 0 else {
            let e = ProjectionSnapshotError.io("cannot rename \(tmp) to \(path)")
            unlink(tmp)
            throw e
        }
        let dir = directory(of: path)
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw .io("cannot open directory \(dir)") }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw .io("cannot fsync directory \(dir)") }
    }

    /// Loads the snapshot at `path`. Throws `.notFound` when there is none.
    public static func load(from path: String, sectors: [String] = Sectors.defaultList)
        throws(ProjectionSnapshotError) -> Loaded
    {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw ProjectionSnapshotError(.notFound, "no snapshot at \(path)") }
            throw .io("cannot open \(path)")
        }
        defer { close(fd) }
        // Read in one piece into an array of the file's size (the file is tens of MiB: growing
        // an array chunk by chunk copied it over and over).
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .io("cannot read \(path)") }
        let size = Int(st.st_size)
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            var done = 0
            while done < size {
                let n = pread(fd, buffer.baseAddress! + done, size - done, off_t(done))
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                done += n
            }
            failed = done < size
            count = done
        }
        if failed { throw .io("cannot read \(path)") }
        return try decode(bytes, sectors: sectors)
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let dir = String(path[..<slash])
        return dir.isEmpty ? "/" : dir
    }
}

/// Why a snapshot was not loaded or written. Any of these on load means: rebuild from the log.
public struct ProjectionSnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case notFound = "not_found"
        case io
        /// The file does not start with the snapshot magic.
        case notASnapshot = "not_a_snapshot"
        /// Written by another projection format version.
        case versionMismatch = "version_mismatch"
        /// Wrong length or SHA-256: the file is damaged.
        case checksumMismatch = "checksum_mismatch"
        /// The checksum holds but the payload does not decode (a bug, or a hand-made file).
        case malformed
        /// Folded with another configured sector list, which quarantines other events.
        case sectorsChanged = "sectors_changed"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    static func io(_ what: String) -> ProjectionSnapshotError {
        ProjectionSnapshotError(.io, "\(what): \(String(cString: strerror(errno)))")
    }

    static func malformed(_ what: String) -> ProjectionSnapshotError {
        ProjectionSnapshotError(.malformed, what)
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// The two halves of loading a snapshot payload, each written by one task.
private final class LoadWork: @unchecked Sendable {
    let payload: UnsafeBufferPointer<UInt8>
    let sectors: [String]
    var digest: [UInt8] = []
    var decoded: Result<(state: ProjectionState, logOffset: UInt64), ProjectionSnapshotError>? = nil

    init(payload: UnsafeBufferPointer<UInt8>, sectors: [String]) {
        self.payload = payload
        self.sectors = sectors
    }
}

/// `write(2)`, named apart from `ProjectionSnapshot.write`.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

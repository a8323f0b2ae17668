// What `incidentctl backup DIR` writes (docs/OPERATIONS.md, "Backup and restore"):
//
//   DIR/                               mode 0750; a data directory a node can start on
//   DIR/segments/                      mode 0750
//   DIR/segments/<first offset>.jsonl  the node's log up to the backup's end, in the store's own
//                                      format (docs/STORAGE.md; EventStore/SegmentFormat.swift):
//                                      one stored line and "\n" each, byte for byte as the node
//                                      holds it; a file is named by the local offset of its first
//                                      event and closed once it reaches 64 MiB (the default
//                                      `segment_mb`), so the cut differs from the node's own
//   DIR/backup.json                    what was backed up (the node ignores the file):
//     {"format":1,"node":"gao","public_key":"<base64>","taken_at":"<RFC 3339>","events":N,
//      "vector":{"gao":12,…},"trust":{"gao":"<base64>",…}}
//
// Not in it: node.key (the private key is kept apart, docs/OPERATIONS.md "Keys and trust"),
// node_id (a restored directory is adopted at its first start, docs/STORAGE.md "Data
// directory"), LOCK, and projections.snapshot (a cache, rebuilt from the log).
//
// Everything is written under `.<name>.partial-<pid>` beside DIR; each file and directory is
// fsynced; only a copy that `EventStore.verifyCopy` passes is renamed to DIR (an empty DIR is
// replaced by the rename), and the parent directory is fsynced. A copy that fails is removed.

import EventStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The backup's place on disk: the target directory, which must be new or empty, and the
/// temporary directory beside it where the copy is written and checked.
struct BackupDirectory {
    let target: String
    let temporary: String
    static let manifestName = "backup.json"

    /// Refuses a target that exists and is not an empty directory, or whose parent does not
    /// exist; writes nothing.
    init(target path: String) throws(BackupError) {
        var target = path
        while target.count > 1, target.hasSuffix("/") { target.removeLast() }
        let slash = target.lastIndex(of: "/")
        let parent = slash.map { $0 == target.startIndex ? "/" : String(target[..<$0]) } ?? "."
        let name = slash.map { String(target[target.index(after: $0)...]) } ?? target
        guard !name.isEmpty, name != ".", name != ".." else {
            throw BackupError(.notEmpty, "\(path): give a new or empty directory for the backup; nothing was written")
        }
        var st = stat()
        if stat(target, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw BackupError(.notEmpty, "\(path) exists and is not a directory; nothing was written")
            }
            guard let entries = POSIX.listDirectory(target) else {
                throw BackupError(.io, "cannot list \(path): \(POSIX.errnoText())")
            }
            guard entries.isEmpty else {
                throw BackupError(
                    .notEmpty,
                    "\(path) is not empty (\(entries.count) entries, e.g. \(entries.sorted()[0])): a backup goes into a new or empty directory; nothing was written")
            }
        } else if errno != ENOENT {
            throw BackupError(.io, "cannot look at \(path): \(POSIX.errnoText())")
        } else if stat(parent, &st) != 0 || (st.st_mode & S_IFMT) != S_IFDIR {
            throw BackupError(.io, "\(parent) is not a directory; nothing was written")
        }
        self.target = target
        self.temporary = (parent == "/" ? "" : parent) + "/." + name + ".partial-\(getpid())"
    }

    /// Creates the temporary directory and its `segments/` (both, or neither).
    func create() throws(BackupError) {
        guard mkdir(temporary, 0o750) == 0 else { throw BackupError(.io, "cannot create \(temporary): \(POSIX.errnoText())") }
        guard mkdir(temporary + "/segments", 0o750) == 0 else {
            let error = BackupError(.io, "cannot create \(temporary)/segments: \(POSIX.errnoText())")
            rmdir(temporary)
            throw error
        }
    }

    /// Makes the segment files' names durable (the files themselves are fsynced as they close).
    func syncSegments() throws(BackupError) {
        for dir in [temporary + "/segments", temporary] {
            guard POSIX.fsyncDirectory(dir) == nil else { throw BackupError(.io, "cannot fsync \(dir): \(POSIX.errnoText())") }
        }
    }

    /// Writes `backup.json`, fsynced, and fsyncs the directory.
    func writeManifest(_ manifest: [UInt8]) throws(BackupError) {
        try Self.writeFile(temporary + "/" + Self.manifestName, manifest)
        guard POSIX.fsyncDirectory(temporary) == nil else { throw BackupError(.io, "cannot fsync \(temporary): \(POSIX.errnoText())") }
    }

    /// Renames the checked copy to the target and makes the rename durable.
    func commit() throws(BackupError) {
        guard rename(temporary, target) == 0 else {
            throw BackupError(.io, "cannot rename \(temporary) to \(target): \(POSIX.errnoText())")
        }
        let parent = target.lastIndex(of: "/").map { $0 == target.startIndex ? "/" : String(target[..<$0]) } ?? "."
        _ = POSIX.fsyncDirectory(parent)
    }

    /// Removes the temporary directory and what it holds (a failed or refused copy).
    func removeTemporary() {
        for dir in [temporary + "/segments", temporary] {
            for name in POSIX.listDirectory(dir) ?? [] { unlink(dir + "/" + name) }
        }
        rmdir(temporary + "/segments")
        rmdir(temporary)
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) throws(BackupError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw BackupError(.io, "cannot create \(path): \(POSIX.errnoText())") }
        defer { close(fd) }
        guard bytes.withUnsafeBytes({ POSIX.writeAll(fd, $0) }) == nil, fsync(fd) == 0 else {
            throw BackupError(.io, "cannot write \(path): \(POSIX.errnoText())")
        }
    }
}

/// Writes stored lines into segment files of the store's format, in log order.
struct SegmentFileWriter {
    let directory: String
    let segmentBytes: UInt64
    var fd: Int32 = -1
    var size: UInt64 = 0
    var buffer: [UInt8] = []
    /// Segment files written, and bytes in them.
    private(set) var segments = 0
    private(set) var bytes: UInt64 = 0

    init(directory: String, segmentBytes: UInt64) {
        self.directory = directory
        self.segmentBytes = segmentBytes
    }

    /// Appends `lines`, the first at local offset `offset`; a segment at or above the size limit
    /// is closed before the next line, which starts a new one named by its offset.
    mutating func write(_ lines: [[UInt8]], firstOffset offset: UInt64) throws(BackupError) {
        for (i, line) in lines.enumerated() {
            if fd < 0 || size >= segmentBytes { try startSegment(at: offset + UInt64(i)) }
            buffer.append(contentsOf: line)
            buffer.append(UInt8(ascii: "\n"))
            size += UInt64(line.count + 1)
            bytes += UInt64(line.count + 1)
        }
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// Writes what is buffered, fsyncs and closes the last segment; a log with no event gets the
    /// empty first segment a store starts with.
    mutating func finish() throws(BackupError) {
        if fd < 0 { try startSegment(at: 0) }
        try closeSegment()
    }

    mutating func startSegment(at offset: UInt64) throws(BackupError) {
        if fd >= 0 { try closeSegment() }
        let path = directory + "/" + SegmentName.fileName(firstOffset: offset)
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw BackupError(.io, "cannot create \(path): \(POSIX.errnoText())") }
        size = 0
        segments += 1
    }

    mutating func flush() throws(BackupError) {
        guard !buffer.isEmpty else { return }
        guard buffer.withUnsafeBytes({ POSIX.writeAll(fd, $0) }) == nil else {
            throw BackupError(.io, "cannot write to \(directory): \(POSIX.errnoText())")
        }
        buffer.removeAll(keepingCapacity: true)
    }

    mutating func closeSegment() throws(BackupError) {
        try flush()
        let synced = fsync(fd) == 0
        close(fd)
        fd = -1
        guard synced else { throw BackupError(.io, "cannot fsync a segment in \(directory): \(POSIX.errnoText())") }
    }

    /// Closes an open file without syncing (the copy is being abandoned).
    mutating func abandon() {
        if fd >= 0 { close(fd) }
        fd = -1
    }
}

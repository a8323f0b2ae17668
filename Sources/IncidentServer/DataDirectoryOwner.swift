import EventStore
import IncidentModel

#if canImport(Glibc)
import Glibc
#endif

/// Binds a data directory to one node id: `<data_dir>/node_id` holds the id of the node that
/// first started on it, and a node configured with another id refuses to start. Without it, a
/// node restarted without its `--node-id` would come up as `dev` and write `dev:1` beside its
/// own `x:1`, signed with the same key.
///
/// A data directory without the file (from before it existed, or restored from a backup, which
/// does not hold it) is adopted on its next start: the id is recorded unless the log holds
/// events that this node's key signed under another origin (then that origin is this
/// directory's node, and the start is refused naming it).
enum DataDirectoryOwner {
    static let fileName = "node_id"

    static func path(_ dataDir: String) -> String { dataDir + "/" + fileName }

    /// The recorded id, or nil when the directory has none yet.
    static func recorded(in dataDir: String) throws(NodeConfig.Failure) -> String? {
        let file = path(dataDir)
        let bytes: [UInt8]
        switch readFile(file) {
        case .success(let b): bytes = b
        case .failure(let error) where error.code == ENOENT: return nil
        case .failure(let error):
            throw NodeConfig.Failure(file: file, key: nil, reason: "cannot read: \(String(cString: strerror(error.code)))")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let id = text.hasSuffix("\n") ? String(text.dropLast()) : text
        guard NodeID.isValid(id) else {
            throw NodeConfig.Failure(file: file, key: nil, reason: "not a node id: \(text.debugDescription)")
        }
        return id
    }

    /// Refuses a data directory recorded for another node.
    static func check(recorded: String?, config: NodeConfig) throws(NodeConfig.Failure) {
        guard let recorded, recorded != config.nodeID else { return }
        throw mismatch(owner: recorded, config: config, how: "recorded in \(path(config.dataDir))")
    }

    /// For a directory without the file: the origins in the log, other than `config.nodeID`,
    /// whose latest signed event this node's key signed.
    static func otherOwnOrigins(store: EventStore, identity: NodeIdentity, config: NodeConfig) -> [String] {
        let vector = store.versionVector
        var out: [String] = []
        for origin in vector.origins where origin != config.nodeID {
            // The writer signs the last event of each commit and at least every 64th, so one
            // of the last 65 events of an origin carries a signature.
            var seq = vector[origin]
            let lowest = seq > 65 ? seq - 65 : 1
            while seq >= lowest {
                if let offset = store.offset(origin: origin, seq: seq),
                    let event = try? store.read(from: offset, limit: 1).first, event.signature != nil
                {
                    if event.signatureIsValid(publicKey: identity.publicKey) { out.append(origin) }
                    break
                }
                seq -= 1
            }
        }
        return out
    }

    static func mismatch(owner: String, config: NodeConfig, how: String) -> NodeConfig.Failure {
        NodeConfig.Failure(
            file: config.dataDir, key: "node_id",
            reason:
                "this data directory belongs to node \(owner) (\(how)), but this node is configured as \(config.nodeID): "
                + "start it with node_id \(owner) (--node-id \(owner)), or give node \(config.nodeID) a data directory of its own")
    }

    /// Writes the file atomically: a temporary file, fsynced, renamed, the directory fsynced.
    static func record(_ nodeID: String, in dataDir: String) throws(NodeConfig.Failure) {
        let file = path(dataDir)
        let tmp = file + ".tmp"
        func fail(_ what: String, _ at: String) -> NodeConfig.Failure {
            NodeConfig.Failure(file: at, key: nil, reason: "cannot \(what): \(String(cString: strerror(errno)))")
        }
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw fail("create", tmp) }
        let bytes = Array((nodeID + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            let error = fail("write", tmp)
            close(fd)
            throw error
        }
        close(fd)
        guard rename(tmp, file) == 0 else { throw fail("rename", file) }
        let dfd = open(dataDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}

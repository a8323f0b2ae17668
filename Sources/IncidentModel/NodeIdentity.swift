@preconcurrency public import Crypto

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The node's Ed25519 key pair. The private key lives in `<data dir>/node.key` (base64 of the
/// 32-byte seed and a newline, mode 0600), created on first start.
public struct NodeIdentity: Sendable {
    public let privateKey: Curve25519.Signing.PrivateKey
    public var publicKey: Curve25519.Signing.PublicKey { privateKey.publicKey }

    /// The public key as base64 of its 32 raw bytes: what `--print-public-key` prints and what
    /// trust lists hold.
    public var publicKeyBase64: String { Base64.encode(Array(publicKey.rawRepresentation)) }

    public init(privateKey: Curve25519.Signing.PrivateKey) {
        self.privateKey = privateKey
    }

    public struct Failure: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    public static let fileName = "node.key"

    /// Loads the key from `directory/node.key`, creating it (0600, written to a temporary file,
    /// fsynced and renamed into place) when absent.
    public static func loadOrCreate(directory: String) throws -> NodeIdentity {
        let path = directory + "/" + fileName
        if let text = try readFile(path) { return try parse(text, path: path) }
        let key = Curve25519.Signing.PrivateKey()
        let text = Base64.encode(Array(key.rawRepresentation)) + "\n"
        let tmp = path + ".tmp"
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(path: tmp, reason: "cannot create: \(errnoText())") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            close(fd)
            throw Failure(path: tmp, reason: "cannot write: \(errnoText())")
        }
        close(fd)
        guard rename(tmp, path) == 0 else { throw Failure(path: path, reason: "cannot rename: \(errnoText())") }
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
        return NodeIdentity(privateKey: key)
    }

    /// Loads the key from a file that must exist (a `key_file` the operator placed); it is
    /// never created.
    public static func load(path: String) throws -> NodeIdentity {
        guard let text = try readFile(path) else { throw Failure(path: path, reason: "no such file") }
        return try parse(text, path: path)
    }

    /// The key file's text: base64 of the 32-byte seed; the file must not be readable by others.
    static func parse(_ text: String, path: String) throws -> NodeIdentity {
        let trimmed = text.split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\r" }).first.map(String.init) ?? ""
        guard let raw = Base64.decode(trimmed), raw.count == 32,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else { throw Failure(path: path, reason: "not a base64 Ed25519 private key") }
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & 0o077 != 0 {
            throw Failure(path: path, reason: "private key is readable by others (mode \(String(st.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        return NodeIdentity(privateKey: key)
    }

    static func readFile(_ path: String) throws -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw Failure(path: path, reason: "cannot open: \(errnoText())")
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { throw Failure(path: path, reason: "cannot read: \(errnoText())") }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses a base64 public key as trust lists and `--trust` give it.
    public static func publicKey(base64: String) -> Curve25519.Signing.PublicKey? {
        guard let raw = Base64.decode(base64), raw.count == 32 else { return nil }
        return try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }

import Foundation
import IncidentModel
import Testing

@Suite struct NodeIdentityTests {
    static func mode(_ path: String) -> mode_t? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return st.st_mode & 0o777
    }

    @Test func firstLoadCreatesAKeyFileReadableOnlyByTheOwner() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let identity = try NodeIdentity.loadOrCreate(directory: dir.path)
        let path = dir.path + "/node.key"
        #expect(Self.mode(path) == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasSuffix("\n"))
        #expect(Base64.decode(String(text.dropLast()))?.count == 32)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        #expect(NodeIdentity.publicKey(base64: identity.publicKeyBase64)?.rawRepresentation
            == identity.publicKey.rawRepresentation)
    }

    @Test func secondLoadYieldsTheSameKey() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let first = try NodeIdentity.loadOrCreate(directory: dir.path)
        let second = try NodeIdentity.loadOrCreate(directory: dir.path)
        #expect(second.publicKeyBase64 == first.publicKeyBase64)
        let other = try TemporaryDirectory()
        defer { other.remove() }
        #expect(try NodeIdentity.loadOrCreate(directory: other.path).publicKeyBase64 != first.publicKeyBase64)
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o666] as [mode_t])
    func keyFileReadableByOthersIsRefused(mode: mode_t) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try NodeIdentity.loadOrCreate(directory: dir.path)
        #expect(chmod(dir.path + "/node.key", mode) == 0)
        let error = #expect(throws: NodeIdentity.Failure.self) { try NodeIdentity.loadOrCreate(directory: dir.path) }
        #expect(error?.path == dir.path + "/node.key")
        #expect(error?.reason.contains("readable by others") == true)
    }

    @Test(arguments: ["not base64\n", "AAAA\n", ""])
    func keyFileThatIsNotAKeyIsRefusedAndNotReplaced(content: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.path + "/node.key"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(content.utf8), attributes: [.posixPermissions: 0o600]))
        let error = #expect(throws: NodeIdentity.Failure.self) { try NodeIdentity.loadOrCreate(directory: dir.path) }
        #expect(error?.reason == "not a base64 Ed25519 private key")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == content)
    }
}

import NIOSSL
import Sync

/// TLS contexts from the config: the client listener's (`tls_cert`, `tls_key`) and
/// the peers' mutual TLS (`peer_tls_cert`, `peer_tls_key`, `peer_tls_ca`). Files are PEM; a file
/// that does not load stops the node at start (or keeps the running config on reload), naming
/// its key. TLS 1.2 is the oldest version spoken.
enum TLSSetup {
    /// Loads every configured file, so that a bad one is a config error naming its key.
    static func check(_ config: NodeConfig) throws(NodeConfig.Failure) {
        _ = try clientListener(config)
        _ = try peers(config)
    }

    /// The client listener's context, or nil without `tls_cert`.
    static func clientListener(_ config: NodeConfig) throws(NodeConfig.Failure) -> NIOSSLContext? {
        guard let certPath = config.tlsCert, let keyPath = config.tlsKey else { return nil }
        let chain = try certificates("tls_cert", certPath)
        let key = try privateKey("tls_key", keyPath)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        return try context("tls_key", tls)
    }

    /// The peers' contexts, or nil without `peer_tls_cert`.
    static func peers(_ config: NodeConfig) throws(NodeConfig.Failure) -> PeerTLS? {
        guard let certPath = config.peerTLSCert, let keyPath = config.peerTLSKey, let caPath = config.peerTLSCA else { return nil }
        let chain = try certificates("peer_tls_cert", certPath).map { NIOSSLCertificateSource.certificate($0) }
        let key = try privateKey("peer_tls_key", keyPath)
        let ca = try certificates("peer_tls_ca", caPath)
        var server = TLSConfiguration.makeServerConfigurationWithMTLS(
            certificateChain: chain, privateKey: .privateKey(key), trustRoots: .certificates(ca))
        server.minimumTLSVersion = .tlsv12
        var client = TLSConfiguration.makeClientConfiguration()
        client.certificateChain = chain
        client.privateKey = .privateKey(key)
        client.trustRoots = .certificates(ca)
        // Which node is at the other end is proved by the key proof; the certificate proves
        // membership of the mission's CA. Peers are often dialed by address, so no host name check.
        client.certificateVerification = .noHostnameVerification
        client.minimumTLSVersion = .tlsv12
        return PeerTLS(server: try context("peer_tls_cert", server), client: try context("peer_tls_cert", client))
    }

    static func certificates(_ key: String, _ path: String) throws(NodeConfig.Failure) -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw NodeConfig.Failure(file: "", key: key, reason: "cannot load the PEM certificate \(path): \(error)")
        }
        guard !certificates.isEmpty else {
            throw NodeConfig.Failure(file: "", key: key, reason: "no PEM certificate in \(path)")
        }
        return certificates
    }

    static func privateKey(_ key: String, _ path: String) throws(NodeConfig.Failure) -> NIOSSLPrivateKey {
        do {
            return try NIOSSLPrivateKey(file: path, format: .pem)
        } catch {
            throw NodeConfig.Failure(file: "", key: key, reason: "cannot load the PEM private key \(path): \(error)")
        }
    }

    static func context(_ key: String, _ configuration: TLSConfiguration) throws(NodeConfig.Failure) -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw NodeConfig.Failure(file: "", key: key, reason: "the certificate and key do not make a TLS context: \(error)")
        }
    }
}

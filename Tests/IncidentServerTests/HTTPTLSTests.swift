import Foundation
@testable import IncidentClient
import IncidentTestSupport
import NIOHTTP1
import Testing
import Wire

/// The HTTP listener speaks TLS with the client listener's certificate and key (`tls_cert`,
/// `tls_key`; docs/HTTP.md).
@Suite("HTTP listener over TLS")
struct HTTPTLSTests {
    @Test("with tls_cert set the HTTP API answers over TLS with that certificate, and not in plain text")
    func httpsWithTheClientListenersCertificate() async throws {
        let certs = try await TLSTests.certificates(["gao"])
        defer { try? FileManager.default.removeItem(atPath: certs) }
        let config = #"{"tls_cert":"\#(certs)/gao.crt","tls_key":"\#(certs)/gao.key"}"#
        try await HTTP.inProcess("gao", config: config) { node in
            #expect(node.log.contains("http.tls=on"))
            let address = try HTTP.address(node)
            let tls = try #require(try IncidentEndpoint(address, tlsCA: certs + "/ca.crt").tlsContext())
            let answer = try await HTTPConnection.withConnection(to: address, tls: tls) { try await $0.request(.GET, "/api/v1/status") }
            #expect(answer.status == 200 && answer.json?["node"]?.stringValue == "gao")
            // By name: the certificate names localhost, as for the client listener.
            let byName = try await HTTPConnection.withConnection(
                to: HostPort(host: "localhost", port: address.port), tls: tls, serverHostname: "localhost"
            ) { try await $0.request(.GET, "/metrics") }
            #expect(byName.status == 200)
            // Plain HTTP gets no HTTP answer.
            let line = try await Security.blocking {
                let plain = try RawClient(address)
                plain.send(Array("GET /api/v1/status HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                return plain.readLine(timeout: 5).map { String(decoding: $0, as: UTF8.self) }
            }
            #expect(line?.hasPrefix("HTTP/1.1") != true, "\(line ?? "")")
        }
    }
}

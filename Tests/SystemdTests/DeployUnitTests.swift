import Foundation
import IncidentTestSupport
import Testing

/// Deploy/'s units as systemd reads them: `systemd-analyze verify` has nothing to say, and the
/// service's hardening rates at most 2.0 in `systemd-analyze security`.
@Suite("Deploy units")
struct DeployUnitTests {
    static let units = ["incidentd.service", "incidentd.socket", "incidentd-peer.socket", "incidentd-http.socket"]

    /// The units with ExecStart= pointing at the built binary (verify checks that it exists);
    /// `make install` rewrites the same path to PREFIX/bin.
    static func stagedUnits() throws -> String {
        let dir = TestNode.temporaryDirectory(prefix: "units")
        for unit in units {
            let text = try String(contentsOfFile: repositoryRoot + "/Deploy/" + unit, encoding: .utf8)
            try text.replacingOccurrences(of: "/usr/local/bin/incidentd", with: TestNode.binaryPath)
                .write(toFile: dir + "/" + unit, atomically: true, encoding: .utf8)
        }
        return dir
    }

    static func analyze() throws -> String {
        try #require(
            Subprocess.find(["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]),
            "systemd-analyze is missing: `make deps` installs the systemd package")
    }

    @Test func unitsVerifyWithoutAWord() async throws {
        let analyze = try Self.analyze()
        let dir = try Self.stagedUnits()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try await ChildProcess.run(analyze, ["verify"] + Self.units.map { dir + "/" + $0 })
        #expect(run.status == 0)
        #expect(run.stderr.isEmpty, "systemd-analyze verify:\n\(run.stderr)")
    }

    @Test func serviceExposureIsAtMostTwo() async throws {
        let analyze = try Self.analyze()
        let dir = try Self.stagedUnits()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try await ChildProcess.run(analyze, ["security", "--offline=true", "--no-pager", dir + "/incidentd.service"])
        let line = try #require(
            run.stdout.split(separator: "\n").first { $0.contains("Overall exposure level for incidentd.service") },
            "\(run.stdout)\n\(run.stderr)")
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }, "\(line)")
        #expect(score <= 2.0, "\(line)")
    }
}

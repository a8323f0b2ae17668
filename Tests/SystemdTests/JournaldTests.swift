import Foundation
import IncidentBench
import IncidentTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real systemd-journald in a private mount namespace (tmpfs over /run, and over
/// /var/log/journal), the node logging to it, and `journalctl -o json` reading the entries back.
/// Needs root (CI runs as root); elsewhere it is skipped with the reason.
@Suite("journald logging")
struct JournaldTests {
    static let journald = Subprocess.find(["/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald"])
    static let unshare = Subprocess.find(["/usr/bin/unshare", "/bin/unshare"])
    static let journalctl = Subprocess.find(["/usr/bin/journalctl", "/bin/journalctl"])

    /// Why the test cannot run here, or nil when it can.
    static let unavailableReason: String? = {
        guard getuid() == 0 else { return "needs root for a private mount namespace with its own journald (CI runs as root)" }
        guard journald != nil else { return "systemd-journald not installed (apt-get install systemd)" }
        guard journalctl != nil else { return "journalctl not installed (apt-get install systemd)" }
        guard let unshare else { return "unshare not installed (util-linux)" }
        // A trait's condition cannot await; /bin/true returns at once.
        let denied = "unshare -m is not permitted here (no CAP_SYS_ADMIN in this container)"
        guard let probe = try? SpawnedProcess(executable: unshare, arguments: ["-m", "--propagation", "private", "/bin/true"], stderr: .discard)
        else { return denied }
        guard probe.waitUntilExit() == 0 else { return denied }
        return nil
    }()

    @Test(
        .enabled(if: unavailableReason == nil, Comment(rawValue: unavailableReason ?? "")),
        .timeLimit(.minutes(1)))
    func entriesReachJournaldWithStructuredFields() async throws {
        let dir = TestNode.temporaryDirectory(prefix: "journald")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // stderr is a file whose dev:inode JOURNAL_STREAM names, as systemd does for
        // StandardError=journal: the node's automatic choice must then be journald.
        let script = """
            set -eu
            mount -t tmpfs -o mode=0755 tmpfs /run
            if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
            mkdir -p /run/systemd/journal
            \(Self.journald!) &
            journald=$!
            for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
            [ -S /run/systemd/journal/socket ] || { echo "journald did not start" >&2; exit 3; }
            : > "\(dir)/stderr"
            export JOURNAL_STREAM="$(stat -c %d "\(dir)/stderr"):$(stat -c %i "\(dir)/stderr")"
            "\(TestNode.binaryPath)" --node-id jtest --data-dir "\(dir)/data" --listen 127.0.0.1:0 --peer-listen off \
                --fsync never --ready-file "\(dir)/ready" 2>>"\(dir)/stderr" &
            node=$!
            for _ in $(seq 300); do [ -s "\(dir)/ready" ] && break; sleep 0.05; done
            kill -TERM $node
            wait $node
            echo "node exit $?"
            \(Self.journalctl!) --sync || true
            \(Self.journalctl!) --no-pager -o json SYSLOG_IDENTIFIER=incidentd > "\(dir)/journal.json"
            kill $journald
            wait $journald || true
            """
        try Data(script.utf8).write(to: URL(fileURLWithPath: dir + "/run.sh"))
        let run = try await ChildProcess.run(Self.unshare!, ["-m", "--propagation", "private", "/bin/sh", dir + "/run.sh"])
        #expect(run.status == 0, "stdout: \(run.stdout)\nstderr: \(run.stderr)")
        #expect(run.stdout.contains("node exit 0"), "\(run.stdout)")

        let stderr = String(decoding: FileManager.default.contents(atPath: dir + "/stderr") ?? Data(), as: UTF8.self)
        #expect(!stderr.contains("msg="), "with stderr on the journal the node logs to journald, not logfmt: \(stderr)")
        let text = String(decoding: FileManager.default.contents(atPath: dir + "/journal.json") ?? Data(), as: UTF8.self)
        let entries = text.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let ready = try #require(entries.first { $0["MESSAGE"] as? String == "node ready" }, "journal:\n\(text)\nrun: \(run)")
        #expect(ready["PRIORITY"] as? String == "6")
        #expect(ready["SYSLOG_IDENTIFIER"] as? String == "incidentd")
        #expect((ready["CODE_FILE"] as? String)?.hasSuffix("IncidentNode.swift") == true, "\(ready)")
        #expect(Int(ready["CODE_LINE"] as? String ?? "") ?? 0 > 0, "\(ready)")
        #expect((ready["CODE_FUNC"] as? String)?.hasPrefix("run(") == true, "\(ready)")
        #expect(ready["NODE_ID"] as? String == "jtest", "metadata node.id becomes NODE_ID: \(ready)")
        #expect((ready["NODE_ADDRESSES"] as? String)?.contains("client=127.0.0.1:") == true, "\(ready)")
        #expect(ready["LOGGER"] as? String == "incidentd")
        let warning = entries.first { ($0["MESSAGE"] as? String)?.hasPrefix("fsync policy is never") == true }
        #expect(warning?["PRIORITY"] as? String == "4", "a warning is PRIORITY 4")
        #expect(warning?["STORE_DIR"] as? String == dir + "/data")
        #expect(entries.contains { $0["MESSAGE"] as? String == "node stopped" }, "journal:\n\(text)")
    }
}

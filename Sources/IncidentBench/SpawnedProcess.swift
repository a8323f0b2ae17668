import Synchronization

#if canImport(Glibc)
import Glibc

// glibc's close-all-above and chdir file actions (spawn.h declares them under _GNU_SOURCE only,
// which the Glibc module does not set; glibc 2.34 and 2.29 export them).
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnActionsCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32
@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func spawnActionsChdir(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>) -> Int32
#endif

/// A child process started with posix_spawn(3): what the benchmarks and the tests run `incidentd`,
/// `incidentctl` and the system's tools with.
///
/// Not Foundation's `Process`: on Linux its `run()` lists /proc/self/fd to find which
/// descriptors to close in the child, and copies each entry's whole 256-byte name field where
/// readdir returned a record of a few dozen bytes. With more than about 1,300 descriptors open
/// (the server tests' process reaches 1,550, their nodes running at once) the listing fills
/// glibc's buffer, and the copy can read past its end into an unmapped page: the test process
/// crashed with SIGSEGV in `Process.run()` (swift-corelibs-foundation, fixed upstream after the
/// toolchain this project builds with). Here the child closes every descriptor above 2 itself
/// (`posix_spawn_file_actions_addclosefrom_np`), and its standard input, output and error are
/// opened in the child from paths, so the parent opens nothing to hand over.
///
/// The child gets a process group of its own, as `Process` gave it (a terminal's Ctrl-C reaches
/// the test or benchmark, which stops its children itself), and every signal at its default,
/// none blocked, whatever the parent did with them. The exit is collected with
/// `waitpid` by whoever asks first (`isRunning`, `exited`, `waitUntilExit`); no thread waits
/// for it meanwhile.
public final class SpawnedProcess: Sendable {
    /// Where the child's output or error stream goes.
    public enum Output: Sendable {
        /// The parent's own stream.
        case inherit
        /// /dev/null.
        case discard
        /// A file, created when missing: written from its start, or appended to.
        case file(String, append: Bool)
    }

    public struct SpawnError: Error, CustomStringConvertible {
        public var description: String
    }

    public let processIdentifier: Int32
    /// The wait status, once collected.
    private let collected = Mutex<Int32?>(nil)

    /// Starts `executable` (a path) with `arguments`. `environment` is the child's whole
    /// environment (nil: this process's); `directory` its working directory (nil: this one's);
    /// `stdin` a file it reads (nil: /dev/null).
    public init(
        executable: String, arguments: [String], environment: [String: String]? = nil, directory: String? = nil, stdin: String? = nil,
        stdout: Output = .inherit, stderr: Output = .inherit
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        func check(_ rc: Int32, _ what: String) throws {
            guard rc == 0 else { throw SpawnError(description: "cannot start \(executable): \(what): \(String(cString: strerror(rc)))") }
        }
        try check(posix_spawn_file_actions_addopen(&actions, 0, stdin ?? "/dev/null", O_RDONLY, 0), "stdin")
        for (fd, output) in [(Int32(1), stdout), (Int32(2), stderr)] {
            switch output {
            case .inherit:
                break
            case .discard:
                try check(posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0), "output")
            case .file(let path, let append):
                let flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC)
                try check(posix_spawn_file_actions_addopen(&actions, fd, path, flags, 0o644), "output \(path)")
            }
        }
        try check(spawnActionsCloseFrom(&actions, 3), "closefrom")
        if let directory { try check(spawnActionsChdir(&actions, directory), "chdir \(directory)") }
        // Every signal at its default and none blocked: a test process or a benchmark may ignore
        // or block SIGTERM (its own shutdown handling), and a child would inherit that.
        var none = sigset_t()
        var all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        try check(posix_spawnattr_setsigmask(&attributes, &none), "signal mask")
        try check(posix_spawnattr_setsigdefault(&attributes, &all), "signal dispositions")
        let flags = POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        try check(posix_spawnattr_setflags(&attributes, Int16(flags)), "attributes")
        try check(posix_spawnattr_setpgroup(&attributes, 0), "process group")

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for p in envp ?? [] { free(p) } }
        var pid: pid_t = 0
        let rc = argv.withUnsafeBufferPointer { args in
            if let envp {
                return envp.withUnsafeBufferPointer { env in posix_spawn(&pid, executable, &actions, &attributes, args.baseAddress!, env.baseAddress!) }
            }
            return posix_spawn(&pid, executable, &actions, &attributes, args.baseAddress!, environ)
        }
        try check(rc, "posix_spawn")
        processIdentifier = pid
    }

    /// Collects the exit without blocking; false once the child has ended.
    public var isRunning: Bool { status(blocking: false) == nil }

    /// The exit code, or the number of the signal that ended the child (as `Process` reports
    /// it). Only once it has ended.
    public var terminationStatus: Int32 {
        guard let status = status(blocking: false) else { preconditionFailure("the process is still running") }
        return Self.code(status)
    }

    /// Whether a signal ended the child. Only once it has ended.
    public var terminatedBySignal: Bool {
        guard let status = status(blocking: false) else { preconditionFailure("the process is still running") }
        return status & 0x7f != 0
    }

    /// Sends `signal` while the child runs.
    public func signal(_ signal: Int32) {
        if isRunning { kill(processIdentifier, signal) }
    }

    /// Waits for the exit without holding a thread (polls every 5 ms); returns `terminationStatus`.
    /// Swift's tasks share a pool of one thread per core, so a task blocked in `waitpid` while a
    /// node shuts down would stall, on a 2-core machine, half of everything else the process runs.
    @discardableResult
    public func exited() async -> Int32 {
        while true {
            if let status = status(blocking: false) { return Self.code(status) }
            // Not cancellable: a cancelled caller still waits for the process it started to end.
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Blocks the calling thread until the exit (for a `defer` or a signal handler).
    @discardableResult
    public func waitUntilExit() -> Int32 {
        Self.code(status(blocking: true)!)
    }

    private func status(blocking: Bool) -> Int32? {
        collected.withLock { collected in
            if let collected { return collected }
            var status: Int32 = 0
            while true {
                let r = waitpid(processIdentifier, &status, blocking ? 0 : WNOHANG)
                if r == processIdentifier {
                    collected = status
                    return status
                }
                if r == -1, errno == EINTR { continue }
                if r == -1 {
                    // ECHILD: not ours to collect (cannot happen for a child we spawned).
                    collected = 0
                    return 0
                }
                return nil
            }
        }
    }

    private static func code(_ status: Int32) -> Int32 {
        status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
    }
}

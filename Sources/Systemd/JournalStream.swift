#if canImport(Glibc)
import Glibc
#endif

/// Whether journald is there to log to. `sd_journal_sendv` succeeds even when nobody listens,
/// so the daemon decides once at start where its logs go.
public enum JournalStream {
    /// journald's native socket.
    public static let socketPath = "/run/systemd/journal/socket"

    /// True when journald's socket exists and this process may write to it.
    public static func socketIsWritable(path: String = socketPath) -> Bool {
        access(path, W_OK) == 0
    }

    /// True when stderr is connected to the journal: `JOURNAL_STREAM` (set by systemd for
    /// `StandardError=journal`) holds stderr's `device:inode`.
    public static func stderrIsJournal(journalStream: String?) -> Bool {
        guard let journalStream else { return false }
        let parts = journalStream.split(separator: ":")
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        var st = stat()
        guard fstat(2, &st) == 0 else { return false }
        return UInt64(st.st_dev) == dev && UInt64(st.st_ino) == ino
    }

    /// True when stderr leads nowhere a person reads: closed or /dev/null.
    public static func stderrIsDiscarded() -> Bool {
        var st = stat()
        guard fstat(2, &st) == 0 else { return true }
        var null = stat()
        guard stat("/dev/null", &null) == 0 else { return false }
        return st.st_rdev == null.st_rdev && (st.st_mode & S_IFMT) == S_IFCHR
    }

    /// Where logs should go when nobody chose: journald when stderr is the journal already, or
    /// when stderr is discarded and journald listens; otherwise stderr.
    ///
    /// A writable socket alone is not enough: on any machine that runs systemd it is writable,
    /// and a person starting incidentd in a terminal (or a test reading its stderr) expects the
    /// lines there.
    public static func prefersJournal(journalStream: String?) -> Bool {
        guard socketIsWritable() else { return false }
        return stderrIsJournal(journalStream: journalStream) || stderrIsDiscarded()
    }
}

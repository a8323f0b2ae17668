#if canImport(Glibc)
import Glibc
#endif

/// The thread the live fold runs on (`ProjectionService`) runs at a lower CPU priority than
/// the rest of the node.
///
/// The fold derives the views from events already stored; the write path (reading requests,
/// the writer's commit, catch-up's verification) is what a client or a peer waits on. On two
/// cores under a bulk import, a fold at the same priority takes a core from the commit in
/// progress while the writer waits for its next request's parse. A nice value `niceIncrement`
/// above the process's lets the scheduler run the fold in the write path's gaps instead; it
/// still keeps up (docs/PERFORMANCE.md has the figures). Views stay consistent, only later
/// under a saturated CPU. The sector views and the overview never wait for the fold
/// (`ProjectionService`); a query that takes the fold's lock (a range, a page of incidents, the
/// incident view) waits for a batch in progress, and on a saturated CPU that batch can take
/// longer.
///
/// On Linux the nice value is a thread's own: `setpriority(PRIO_PROCESS, 0, …)` sets the calling
/// thread's, and `getpriority(PRIO_PROCESS, getpid())` reads the main thread's, the base. Raising
/// it needs no privilege. A thread started from the fold's inherits its value; the concurrency
/// pool's workers set their own, and the fold starts no other thread. The thread keeps the name
/// its event loop gave it: a name would be inherited as well, and mislead.
enum FoldThread {
    /// How much lower than the process the fold's priority is (nice values, up to 19).
    static let niceIncrement: Int32 = 10

    /// The nice value the fold runs at: `niceIncrement` above the process's, at most 19.
    static var nice: Int32 {
        #if os(Linux)
        errno = 0
        let process = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(getpid()))
        return errno == 0 ? min(process + niceIncrement, 19) : niceIncrement
        #else
        return niceIncrement
        #endif
    }

    /// Lowers the calling thread's priority; called once, on the fold's thread.
    static func configureCurrent() {
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
        #endif
    }
}

import EventStore

extension RequestHandler {
    /// Up to `limit` stored lines from `from`, stopping once they reach `max_pending_output_bytes`
    /// (at least one line): a `read` response is bounded in bytes as well as in events, so one
    /// request cannot make the node build a response of 10000 large events at once.
    /// Gives the lines and the offset to read on from (damaged slots hold no line; see
    /// `EventStore.readLineRun`).
    func readLines(from: UInt64, limit: Int) throws -> (lines: [[UInt8]], next: UInt64) {
        let maximumBytes = config.limits.maximumPendingOutputBytes
        var out: [[UInt8]] = []
        var bytes = 0
        var next = from
        reading: while out.count < limit, bytes < maximumBytes {
            let run = try store.readLineRun(from: next, limit: min(limit - out.count, 256))
            if run.next == next { break }
            for (line, offset) in zip(run.lines, run.offsets) {
                out.append(line)
                bytes += line.count + 1
                next = offset + 1
                if bytes >= maximumBytes { break reading }
            }
            next = run.next
        }
        return (out, next)
    }
}

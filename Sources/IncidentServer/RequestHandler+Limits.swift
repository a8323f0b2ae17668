import EventStore

extension RequestHandler {
    /// Up to `limit` stored lines from `from`, stopping once they reach `max_pending_output_bytes`
    /// (at least one line): a `read` response is bounded in bytes as well as in events, so one
    /// request cannot make the node build a response of 10000 large events at once.
    func readLines(from: UInt64, limit: Int) throws -> [[UInt8]] {
        let maximumBytes = config.limits.maximumPendingOutputBytes
        var out: [[UInt8]] = []
        var bytes = 0
        var next = from
        while out.count < limit, bytes < maximumBytes {
            let lines = try store.readLines(from: next, limit: min(limit - out.count, 256))
            if lines.isEmpty { break }
            for line in lines {
                out.append(line)
                bytes += line.count + 1
                if bytes >= maximumBytes { break }
            }
            next = from + UInt64(out.count)
        }
        return out
    }
}

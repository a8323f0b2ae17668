public import IncidentModel
import Wire

/// Builders of request lines, so the CLI, the benchmarks and the tests speak the same protocol.
public enum Requests {
    /// `{"op":"append","events":[…]}` from event objects already in JSON (`{"type","sector","data"}`).
    public static func append(eventObjects: [[UInt8]]) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: eventObjects.reduce(32) { $0 + $1.count + 1 })
        w.raw(ClientRequest.eventsArrayPrefix)
        for (i, e) in eventObjects.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.raw(e)
        }
        w.raw("]}")
        return w.bytes
    }

    public static func event(type: String, sector: String, data: JSONValue) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"type\":")
        w.string(type)
        w.raw(",\"sector\":")
        w.string(sector)
        w.raw(",\"data\":")
        w.canonical(data)
        w.raw("}")
        return w.bytes
    }

    public static func get(id: String) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"op\":\"get\",\"id\":")
        w.string(id)
        w.raw("}")
        return w.bytes
    }

    public static func read(from: UInt64, limit: Int, beyond: VersionVector? = nil, waitMillis: Int = 0) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"op\":\"read\",\"from\":")
        w.integer(from)
        w.raw(",\"limit\":")
        w.integer(limit)
        if let beyond {
            w.raw(",\"beyond\":")
            beyond.write(to: &w)
        }
        if waitMillis > 0 {
            w.raw(",\"wait_ms\":")
            w.integer(waitMillis)
        }
        w.raw("}")
        return w.bytes
    }

    /// `{"op":"ingest","events":[…]}` with stored event lines, exactly.
    public static func ingest(eventLines: [[UInt8]]) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: eventLines.reduce(32) { $0 + $1.count + 1 })
        w.raw("{\"op\":\"ingest\",\"events\":[")
        for (i, e) in eventLines.enumerated() {
            if i > 0 { w.raw(UInt8(ascii: ",")) }
            w.raw(e)
        }
        w.raw("]}")
        return w.bytes
    }

    /// `{"op":"incidents",…}`: one page of the incidents list, optionally of one sector.
    public static func incidents(sector: String?, limit: Int, cursor: String?) -> [UInt8] {
        var w = JSONWriter()
        w.raw("{\"op\":\"incidents\"")
        if let sector {
            w.raw(",\"sector\":")
            w.string(sector)
        }
        w.raw(",\"limit\":")
        w.integer(limit)
        if let cursor {
            w.raw(",\"cursor\":")
            w.string(cursor)
        }
        w.raw("}")
        return w.bytes
    }

    public static let status: [UInt8] = Array("{\"op\":\"status\"}".utf8)
}

import IncidentModel

// Small helpers for writing the views. Views list object members in sorted key order by
// construction (the tests check every view is canonical JSON).
extension JSONWriter {
    /// Writes `"name":`, preceded by a comma unless it is the object's first member.
    @inline(__always) mutating func key(_ name: StaticString) {
        if let last = bytes.last, last != UInt8(ascii: "{") { raw(UInt8(ascii: ",")) }
        raw(UInt8(ascii: "\""))
        raw(name)
        raw("\":")
    }

    /// Writes `"name":` for a runtime key.
    mutating func key(_ name: String) {
        if let last = bytes.last, last != UInt8(ascii: "{") { raw(UInt8(ascii: ",")) }
        string(name)
        raw(UInt8(ascii: ":"))
    }

    /// A comma unless this is the array's first element.
    @inline(__always) mutating func element() {
        if let last = bytes.last, last != UInt8(ascii: "[") { raw(UInt8(ascii: ",")) }
    }

    mutating func hlc(_ wall: UInt64, _ counter: UInt32) {
        raw(UInt8(ascii: "\""))
        integer(wall)
        raw(UInt8(ascii: "-"))
        integer(counter)
        raw(UInt8(ascii: "\""))
    }

    /// A duration in milliseconds as minutes with one decimal, rounded half up (`12.5`).
    mutating func minutes(millis: Int64) {
        let tenths = (millis + 3000) / 6000
        integer(tenths / 10)
        raw(UInt8(ascii: "."))
        integer(tenths % 10)
    }
}

/// Names sorted by their UTF-8 bytes, with their positions: the order every view lists them in.
func sortedByName(_ names: [String]) -> [(offset: Int, element: String)] {
    names.enumerated().sorted { $0.element.utf8.lexicographicallyPrecedes($1.element.utf8) }
}

extension UnsafeBufferPointer<UInt8> {
    /// Whether these bytes are `other`'s: a length check, then a loop over the bytes. The generic
    /// `elementsEqual` steps through both sides with their iterators (a `String`'s UTF-8 view
    /// through its own), and matching an append's keys, type and sector that way was a
    /// twentieth of reading a bulk import; the names compared are short, and a call to `memcmp`
    /// costs more than the loop. `PayloadReader.matches` and `precedes` (a payload's keys and
    /// enumeration values) take these too.
    @inline(__always)
    package func sameBytes(_ other: UnsafeBufferPointer<UInt8>) -> Bool {
        guard count == other.count else { return false }
        var i = 0
        while i < count {
            if self[i] != other[i] { return false }
            i += 1
        }
        return true
    }

    /// Whether these bytes are `name`'s UTF-8.
    @inline(__always)
    package func sameBytes(_ name: StaticString) -> Bool {
        sameBytes(UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }

    /// Whether these bytes come before `other`'s in byte order (a proper prefix first).
    @inline(__always)
    package func precedes(_ other: UnsafeBufferPointer<UInt8>) -> Bool {
        let common = Swift.min(count, other.count)
        var i = 0
        while i < common {
            if self[i] != other[i] { return self[i] < other[i] }
            i += 1
        }
        return count < other.count
    }
}

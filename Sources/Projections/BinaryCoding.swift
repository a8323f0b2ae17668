/// Little-endian fixed-width integers, length-prefixed strings and arrays: the building blocks of
/// the snapshot payload (see ProjectionSnapshot.swift).
struct BinaryWriter {
    var bytes: [UInt8] = []

    @inline(__always) mutating func put<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func put(_ s: String) {
        put(UInt32(truncatingIfNeeded: s.utf8.count))
        bytes.append(contentsOf: s.utf8)
    }

    mutating func put(_ b: Bool) { put(UInt8(b ? 1 : 0)) }

    mutating func putCount(_ n: Int) { put(UInt32(truncatingIfNeeded: n)) }
}

/// Reads what `BinaryWriter` wrote; every read is bounds-checked and throws on a short or
/// malformed payload.
struct BinaryReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    var atEnd: Bool { index == bytes.count }

    @inline(__always) mutating func get<T: FixedWidthInteger>(_: T.Type = T.self) throws(ProjectionSnapshotError) -> T {
        let n = MemoryLayout<T>.size
        guard index + n <= bytes.count else { throw .malformed("payload ends early at byte \(index)") }
        var v: T = 0
        withUnsafeMutableBytes(of: &v) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[index..<(index + n)]))
        }
        index += n
        return T(littleEndian: v)
    }

    mutating func string() throws(ProjectionSnapshotError) -> String {
        let n = Int(try get(UInt32.self))
        guard index + n <= bytes.count else { throw .malformed("string runs past the end at byte \(index)") }
        guard let s = String(validating: UnsafeBufferPointer(rebasing: bytes[index..<(index + n)]), as: UTF8.self)
        else { throw .malformed("invalid UTF-8 at byte \(index)") }
        index += n
        return s
    }

    mutating func bool() throws(ProjectionSnapshotError) -> Bool {
        switch try get(UInt8.self) {
        case 0: return false
        case 1: return true
        default: throw .malformed("invalid boolean at byte \(index - 1)")
        }
    }

    /// An element count, refused when the rest of the payload could not hold that many elements
    /// of at least `minimumSize` bytes (so a bad count cannot make us allocate wildly).
    mutating func count(minimumSize: Int) throws(ProjectionSnapshotError) -> Int {
        let n = Int(try get(UInt32.self))
        guard n * max(minimumSize, 1) <= bytes.count - index else { throw .malformed("count \(n) too large at byte \(index)") }
        return n
    }
}

/// An append-only array stored in fixed-size chunks.
///
/// The fold's big tables (history nodes, incident records) grow to tens of megabytes. A plain
/// array doubles and copies as it grows, which briefly needs three times the data and leaves the
/// old buffers as holes in the heap (measured: a third more resident memory after a rebuild).
/// Chunks never move once allocated. A copy of the state (to answer queries while the original
/// keeps folding) shares the chunks, and a later change copies only the chunk it touches.
struct ChunkedArray<Element>: RandomAccessCollection, MutableCollection {
    static var chunkShift: Int { 14 }
    static var chunkSize: Int { 1 << chunkShift }

    private var chunks: [[Element]] = []
    private(set) var count = 0

    init() {}

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    subscript(i: Int) -> Element {
        // Read in place: `records[i].key` then copies neither the record nor its arrays (a
        // getter would, retaining and releasing each array it holds).
        @inline(__always) _read {
            precondition(i >= 0 && i < count, "index out of range")
            yield chunks[i >> Self.chunkShift][i & (Self.chunkSize - 1)]
        }
        @inline(__always) _modify {
            precondition(i >= 0 && i < count, "index out of range")
            yield &chunks[i >> Self.chunkShift][i & (Self.chunkSize - 1)]
        }
    }

    mutating func append(_ element: Element) {
        if count & (Self.chunkSize - 1) == 0 {
            var chunk: [Element] = []
            chunk.reserveCapacity(Self.chunkSize)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(element)
        count += 1
    }
}

extension ChunkedArray: Sendable where Element: Sendable {}

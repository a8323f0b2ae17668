/// Consecutive stored event lines read in one piece: their bytes and where each line starts.
///
/// What a reader that walks many lines wants from the store (the projection rebuild): one buffer
/// and one read for thousands of lines, instead of an array and an `Event` per line.
public struct EventLineBlock: Sendable {
    /// The lines, each followed by its "\n".
    public var bytes: [UInt8]
    /// Where each line starts in `bytes`.
    public var starts: [Int]
    /// The local log offset of the first line.
    public var firstOffset: UInt64
    /// The offsets of the log the block covers: as many as its lines, or, for a block without
    /// lines, a run of offsets whose lines are damaged and not held, which a reader steps over.
    public var span: Int

    public init(bytes: [UInt8], starts: [Int], firstOffset: UInt64, span: Int? = nil) {
        self.bytes = bytes
        self.starts = starts
        self.firstOffset = firstOffset
        self.span = span ?? starts.count
    }

    public var count: Int { starts.count }

    /// The bytes of line `i` in `bytes`, without its newline.
    @inline(__always) public func range(ofLine i: Int) -> Range<Int> {
        let end = i + 1 < starts.count ? starts[i + 1] : bytes.count
        return starts[i]..<(end - 1)
    }
}

import IncidentClient
/// A benchmark could not run or its result does not add up (e.g. the node acknowledged fewer
/// events than were sent).
public struct BenchmarkError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

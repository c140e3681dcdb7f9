/// Counts failures in a row and says which ones to log: the first, then every `every`th, each
/// with the count, so an outage gives a line now and then instead of a flood.
public struct FailureLog: Sendable, Equatable {
    public let every: Int
    /// Failures since the last success.
    public private(set) var failures = 0

    public init(every: Int) {
        precondition(every > 0, "every must be at least 1")
        self.every = every
    }

    /// Records a failure; returns whether this one should be logged.
    public mutating func failed() -> Bool {
        failures += 1
        return failures == 1 || failures % every == 0
    }

    /// A success ends the run of failures; returns how many there were (0: nothing to report).
    @discardableResult
    public mutating func succeeded() -> Int {
        defer { failures = 0 }
        return failures
    }
}

/// Bounded retries with exponential backoff: attempt n waits `backoff × 2^(n-1)`, at most
/// `maxDelay`, spread by ± `jitter` (a fraction) so that many sagas do not retry in step.
///
/// One rule for every retry in OrderSaga: saga steps (from `sagas/*.yaml`), a consumer's failed
/// message, the broker reconnect and the rounds of the relay, sweeper and retention.
public struct RetryPolicy: Sendable, Equatable, Codable {
    /// Attempts in all, the first one included.
    public var attempts: Int
    public var backoffMilliseconds: Int
    public var maxDelayMilliseconds: Int
    public var jitter: Double

    public init(attempts: Int, backoffMilliseconds: Int, maxDelayMilliseconds: Int, jitter: Double) {
        self.attempts = attempts
        self.backoffMilliseconds = backoffMilliseconds
        self.maxDelayMilliseconds = maxDelayMilliseconds
        self.jitter = jitter
    }

    /// The wait after failed attempt `attempt` (1-based). `unit` in [0, 1) picks the jitter, so the
    /// delay is a pure function of its inputs.
    public func delayMilliseconds(afterAttempt attempt: Int, unit: Double) -> Int {
        let exponent = min(max(attempt - 1, 0), 30)
        let base = min(Double(maxDelayMilliseconds), Double(backoffMilliseconds) * Double(1 << exponent))
        let spread = base * jitter * (unit * 2 - 1)
        return max(0, min(maxDelayMilliseconds, Int((base + spread).rounded())))
    }
}

extension RetryPolicy {
    /// Retried for as long as it takes: for failures of the infrastructure (a database or broker
    /// outage), which are not the work's fault and must not use up its attempts.
    public static func unlimited(backoffMilliseconds: Int, maxDelayMilliseconds: Int, jitter: Double = 0.2) -> RetryPolicy {
        RetryPolicy(attempts: .max, backoffMilliseconds: backoffMilliseconds, maxDelayMilliseconds: maxDelayMilliseconds, jitter: jitter)
    }

    /// The wait after failed attempt `attempt`, with a random jitter: for loops that need not
    /// replay their delays (saga steps use ``delayMilliseconds(afterAttempt:unit:)`` with a seed).
    public func delay(afterAttempt attempt: Int) -> Duration {
        .milliseconds(delayMilliseconds(afterAttempt: attempt, unit: Double.random(in: 0..<1)))
    }
}

/// A saga as data: its steps in order, read from `sagas/<name>.yaml` and validated at start-up.
public struct SagaDefinition: Sendable, Equatable, Codable {
    public var name: String
    /// Recorded on every saga row, so a changed definition never changes a saga in flight.
    public var version: Int
    public var steps: [StepDefinition]

    public init(name: String, version: Int, steps: [StepDefinition]) {
        self.name = name
        self.version = version
        self.steps = steps
    }

    /// The step named `name`, if there is one.
    public func step(named name: String) -> StepDefinition? {
        steps.first { $0.name == name }
    }
}

/// One step: which participant runs which command, how it is undone and how long to wait.
public struct StepDefinition: Sendable, Equatable, Codable {
    public var name: String
    /// The service that runs the command (`catalog`); its queue is `<participant>.commands`.
    public var participant: String
    /// The command's AMQP `type` (`catalog.reserve_inventory`).
    public var command: String
    /// The command that undoes it, or `nil` for a step that needs no undoing (a notification).
    public var compensation: String?
    /// How long to wait for a reply to one attempt, in milliseconds.
    public var timeoutMilliseconds: Int
    public var retry: RetryPolicy
    /// How compensations of this step are retried; they must eventually succeed, so by default
    /// they get more attempts than the command.
    public var compensationRetry: RetryPolicy
    /// Whether a saga may skip it (the coupon step when there is no coupon).
    public var skippable: Bool

    public init(
        name: String,
        participant: String,
        command: String,
        compensation: String?,
        timeoutMilliseconds: Int,
        retry: RetryPolicy,
        compensationRetry: RetryPolicy? = nil,
        skippable: Bool = false
    ) {
        self.name = name
        self.participant = participant
        self.command = command
        self.compensation = compensation
        self.timeoutMilliseconds = timeoutMilliseconds
        self.retry = retry
        self.compensationRetry = compensationRetry ?? RetryPolicy(
            attempts: max(retry.attempts, 5), backoffMilliseconds: retry.backoffMilliseconds,
            maxDelayMilliseconds: retry.maxDelayMilliseconds, jitter: retry.jitter)
        self.skippable = skippable
    }
}

/// Bounded retries with exponential backoff: attempt n waits `backoff × 2^(n-1)`, at most
/// `maxDelay`, spread by ± `jitter` (a fraction) so that many sagas do not retry in step.
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

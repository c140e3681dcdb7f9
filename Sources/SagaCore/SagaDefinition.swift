@_exported import Retry

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

    /// The pivot's index: the last step with a compensation, the last one that may fail the saga.
    public var pivotIndex: Int? { steps.lastIndex { $0.compensation != nil } }

    /// What the step at `index` is: the steps after the pivot are retriable.
    public func kind(ofStepAt index: Int) -> StepKind {
        guard let pivot = pivotIndex else { return .retriable }
        if index < pivot { return .compensable }
        return index == pivot ? .pivot : .retriable
    }
}

/// The classic saga step kinds, which decide what a failure of the step does.
public enum StepKind: String, Sendable, Equatable {
    /// Can be undone: a failure or timeout after it compensates it (a step before the pivot with
    /// no compensation has nothing to undo).
    case compensable
    /// The last step that may fail the saga: once it succeeds, the order is committed.
    case pivot
    /// After the pivot, with no compensation: retried with capped backoff until it succeeds, it
    /// never cancels the saga; past its attempts the saga is parked FAILED for an operator.
    case retriable
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
    /// How long to wait for a reply to one attempt, in milliseconds, counted from when the broker
    /// confirmed the command (start-to-close).
    public var timeoutMilliseconds: Int
    /// How long a command may wait in the outbox for the broker before its attempt counts as
    /// timed out, in milliseconds: a broker outage shorter than this delays sagas, never fails them.
    public var sendTimeoutMilliseconds: Int
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
        skippable: Bool = false,
        sendTimeoutMilliseconds: Int = StepDefinition.defaultSendTimeoutMilliseconds
    ) {
        self.name = name
        self.participant = participant
        self.command = command
        self.compensation = compensation
        self.timeoutMilliseconds = timeoutMilliseconds
        self.sendTimeoutMilliseconds = sendTimeoutMilliseconds
        self.retry = retry
        self.compensationRetry = compensationRetry ?? RetryPolicy(
            attempts: max(retry.attempts, 5), backoffMilliseconds: retry.backoffMilliseconds,
            maxDelayMilliseconds: retry.maxDelayMilliseconds, jitter: retry.jitter)
        self.skippable = skippable
    }

    /// Ten minutes: longer than a broker restart, short enough that a saga never waits for ever.
    public static let defaultSendTimeoutMilliseconds = 600_000

    /// Definitions stored before ``sendTimeoutMilliseconds`` existed read with its default.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try container.decode(String.self, forKey: .name),
            participant: try container.decode(String.self, forKey: .participant),
            command: try container.decode(String.self, forKey: .command),
            compensation: try container.decodeIfPresent(String.self, forKey: .compensation),
            timeoutMilliseconds: try container.decode(Int.self, forKey: .timeoutMilliseconds),
            retry: try container.decode(RetryPolicy.self, forKey: .retry),
            compensationRetry: try container.decode(RetryPolicy.self, forKey: .compensationRetry),
            skippable: try container.decode(Bool.self, forKey: .skippable),
            sendTimeoutMilliseconds: try container.decodeIfPresent(Int.self, forKey: .sendTimeoutMilliseconds)
                ?? Self.defaultSendTimeoutMilliseconds)
    }
}

/// A point in time, in milliseconds since 1970. The core reads no clock: callers pass the
/// database's `now()` in, so every instance agrees and a skewed host clock changes nothing.
public struct SagaTime: Sendable, Equatable, Comparable, Codable, Hashable {
    public var millisecondsSince1970: Int64

    public init(millisecondsSince1970: Int64) {
        self.millisecondsSince1970 = millisecondsSince1970
    }

    public func adding(milliseconds: Int) -> SagaTime {
        SagaTime(millisecondsSince1970: millisecondsSince1970 + Int64(milliseconds))
    }

    public static func < (lhs: SagaTime, rhs: SagaTime) -> Bool {
        lhs.millisecondsSince1970 < rhs.millisecondsSince1970
    }

    private enum CodingKeys: String, CodingKey { case millisecondsSince1970 }

    /// Stored as a plain number of milliseconds (every saga write encodes several); states saved
    /// before read as `{"millisecondsSince1970": n}`.
    public init(from decoder: any Decoder) throws {
        if let number = try? decoder.singleValueContainer().decode(Int64.self) {
            self.init(millisecondsSince1970: number)
        } else {
            let keyed = try decoder.container(keyedBy: CodingKeys.self)
            self.init(millisecondsSince1970: try keyed.decode(Int64.self, forKey: .millisecondsSince1970))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(millisecondsSince1970)
    }
}

extension SagaTime {
    /// `2026-11-25T16:31:28.974Z`: UTC to the millisecond, as the PostgreSQL store writes times.
    /// The proleptic Gregorian calendar by arithmetic (days to civil date, as in Howard Hinnant's
    /// `civil_from_days`): no calendar, locale or `String(format:)`, which cost a saga's step a
    /// few microseconds each time an order event was stamped.
    public var iso: String {
        let (days, millisecondOfDay) = millisecondsSince1970.floorDivided(by: 86_400_000)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153  // March is 0
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let seconds = millisecondOfDay / 1000
        var text = ""
        text.reserveCapacity(24)
        func append(_ value: Int64, width: Int) {
            let digits = String(value)
            if digits.count < width { text += String(repeating: "0", count: width - digits.count) }
            text += digits
        }
        append(year, width: 4); text += "-"; append(month, width: 2); text += "-"; append(day, width: 2)
        text += "T"; append(seconds / 3600, width: 2); text += ":"; append(seconds / 60 % 60, width: 2); text += ":"
        append(seconds % 60, width: 2); text += "."; append(millisecondOfDay % 1000, width: 3); text += "Z"
        return text
    }
}

extension Int64 {
    /// Quotient rounded down and a remainder that is never negative (times before 1970).
    fileprivate func floorDivided(by divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let remainder = self % divisor
        return remainder < 0 ? (self / divisor - 1, remainder + divisor) : (self / divisor, remainder)
    }
}

/// Where a saga is.
public enum SagaStatus: String, Sendable, Codable, CaseIterable {
    /// Stepping forward. Can transition to: COMPLETED, COMPENSATING, FAILED (a retriable step
    /// after the pivot exhausted its attempts, or an operator aborted it).
    case running = "RUNNING"
    /// Undoing the steps that took effect, newest first. Can transition to: COMPENSATED, FAILED
    /// (a compensation exhausted its attempts, or an operator aborted it).
    case compensating = "COMPENSATING"
    /// Every step succeeded or was skipped. Final.
    case completed = "COMPLETED"
    /// Every step that took effect was undone. Final.
    case compensated = "COMPENSATED"
    /// A compensation, or a retriable step after the pivot, exhausted its retries, or an operator
    /// aborted it: parked for an operator, never dropped. Final until an operator acts; can
    /// transition to: RUNNING, COMPENSATING (an operator's retry, skip or compensate).
    case failed = "FAILED"

    public var isFinal: Bool {
        switch self {
        case .completed, .compensated, .failed: true
        case .running, .compensating: false
        }
    }
}

/// Where one step is.
public enum StepStatus: String, Sendable, Codable, CaseIterable {
    /// Not reached yet. Can transition to: RUNNING, SKIPPED.
    case pending = "PENDING"
    /// Its command was sent; waiting for the reply. Can transition to: SUCCEEDED, FAILED, TIMED_OUT.
    case running = "RUNNING"
    /// The participant did it. Can transition to: COMPENSATING.
    case succeeded = "SUCCEEDED"
    /// The participant refused (a business rule); it changed nothing. Or a retriable step ran out
    /// of attempts. Final.
    case failed = "FAILED"
    /// Not needed by this saga. Final.
    case skipped = "SKIPPED"
    /// No reply within its attempts: whether it took effect is unknown, so it is compensated too
    /// (a compensation of a step that never ran is a no-op). Can transition to: COMPENSATING.
    case timedOut = "TIMED_OUT"
    /// Its compensation was sent. Can transition to: COMPENSATED.
    case compensating = "COMPENSATING"
    /// Undone. Final.
    case compensated = "COMPENSATED"
}

/// Whether a message or deadline belongs to a step's command or to its compensation.
public enum StepPhase: String, Sendable, Codable {
    case command
    case compensation
}

/// One step's progress.
public struct StepState: Sendable, Equatable, Codable {
    public var name: String
    public var status: StepStatus
    /// Command attempts made (0 before the first).
    public var attempt: Int
    /// Compensation attempts made (0 before the first).
    public var compensationAttempt: Int
    /// When its first command attempt was sent (`nil` before, and in states saved before this was kept).
    public var startedAt: SagaTime?
    /// When its first compensation attempt was sent (`nil` before, and in states saved before this was kept).
    public var compensationStartedAt: SagaTime?

    public init(name: String, status: StepStatus = .pending, attempt: Int = 0, compensationAttempt: Int = 0) {
        self.name = name
        self.status = status
        self.attempt = attempt
        self.compensationAttempt = compensationAttempt
    }
}

/// The one deadline a saga waits for: a reply's timeout, or the end of a retry's backoff.
public struct SagaDeadline: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// No reply by then: the attempt timed out.
        case reply
        /// Backoff over: send the next attempt.
        case retry
    }

    public var step: String
    public var phase: StepPhase
    public var attempt: Int
    public var kind: Kind
    public var at: SagaTime
    /// For a reply deadline: by when the broker must have taken the command. Until then a
    /// command still in the outbox is waited for, not timed out (`nil` in states saved before
    /// this bound existed: they time out at ``at``).
    public var sendBy: SagaTime?

    public init(step: String, phase: StepPhase, attempt: Int, kind: Kind, at: SagaTime, sendBy: SagaTime? = nil) {
        self.step = step
        self.phase = phase
        self.attempt = attempt
        self.kind = kind
        self.at = at
        self.sendBy = sendBy
    }
}

/// Everything the state machine knows of one saga; stored as JSON on the saga's row.
public struct SagaState: Sendable, Equatable, Codable {
    public var status: SagaStatus
    public var steps: [StepState]
    public var deadline: SagaDeadline?
    /// Why the saga is compensating or failed.
    public var failureReason: String?
    /// Picks each retry's jitter, so replaying the same inputs gives the same delays.
    public var jitterSeed: UInt64
    /// Why the saga began compensating, kept when a compensation that gave up overwrites
    /// ``failureReason`` (`nil` in states saved before this existed).
    public var compensationReason: String?
    /// Whether ``SagaEvent/committed`` was emitted (`nil` in states saved before this existed).
    public var commitAnnounced: Bool?

    public init(status: SagaStatus, steps: [StepState], deadline: SagaDeadline? = nil, failureReason: String? = nil, jitterSeed: UInt64) {
        self.status = status
        self.steps = steps
        self.deadline = deadline
        self.failureReason = failureReason
        self.jitterSeed = jitterSeed
    }

    /// A saga that has not started: every step PENDING.
    public init(definition: SagaDefinition, jitterSeed: UInt64) {
        self.init(status: .running, steps: definition.steps.map { StepState(name: $0.name) }, jitterSeed: jitterSeed)
    }
}

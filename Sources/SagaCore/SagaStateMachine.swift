/// A participant's answer to one command or compensation attempt.
public struct StepReply: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case succeeded
        /// A business refusal (out of stock, card declined): not an error, and not retried.
        case failed(reason: String)
    }

    public var step: String
    public var phase: StepPhase
    public var attempt: Int
    public var outcome: Outcome

    public init(step: String, phase: StepPhase, attempt: Int, outcome: Outcome) {
        self.step = step
        self.phase = phase
        self.attempt = attempt
        self.outcome = outcome
    }
}

/// Whether the broker has taken the command a reply deadline waits on: the caller reads it from
/// its outbox when the deadline passes.
public enum CommandDispatch: Sendable, Equatable {
    /// Still in the outbox: the broker has not confirmed it (it may be unreachable).
    case waiting
    /// The broker confirmed it at this time, by the database's clock.
    case confirmed(at: SagaTime)
}

/// A message the caller must send: one attempt of a step's command or compensation.
public struct StepMessage: Sendable, Equatable {
    public var step: String
    public var participant: String
    /// The AMQP `type`: the command or compensation name.
    public var type: String
    public var phase: StepPhase
    public var attempt: Int

    public init(step: String, participant: String, type: String, phase: StepPhase, attempt: Int) {
        self.step = step
        self.participant = participant
        self.type = type
        self.phase = phase
        self.attempt = attempt
    }
}

/// What the caller must do after an input, in order: it never needs to read the saga's state to
/// decide anything.
public enum SagaAction: Sendable, Equatable {
    /// The step's command succeeded: merge the data of its reply (to `command`) into the saga's
    /// data. Comes before any ``send(_:)`` of the same transition, whose payload may need it.
    case acceptResult(step: String, command: String)
    case send(StepMessage)
    /// Replace the saga's deadline with this one.
    case scheduleDeadline(SagaDeadline)
    /// The saga waits for no deadline any more.
    case cancelDeadline
    /// Tell the world (a domain event).
    case emit(SagaEvent)
    /// The saga reached a final status. `committed`: the pivot succeeded, so what the saga did
    /// stands (a saga parked FAILED after its pivot is committed; one parked while compensating is not).
    case finish(SagaStatus, committed: Bool)
}

/// What a saga tells the world as it goes.
public enum SagaEvent: Sendable, Equatable {
    /// It began.
    case started
    /// Its pivot and every step before it succeeded: the outcome stands.
    case committed
    /// Every step that took effect was undone, and why.
    case cancelled(reason: String?)
}

/// A step's command or compensation that ended, from its first attempt to the input that ended
/// it: what the step duration metric and the step's trace span report.
public struct StepEnd: Sendable, Equatable {
    public var step: String
    public var phase: StepPhase
    /// SUCCEEDED, FAILED or TIMED_OUT for a command; COMPENSATED or FAILED for a compensation.
    public var outcome: StepStatus
    public var attempts: Int
    /// When its first attempt was sent (`nil` for a state saved before this was kept).
    public var startedAt: SagaTime?
    public var endedAt: SagaTime

    public init(step: String, phase: StepPhase, outcome: StepStatus, attempts: Int, startedAt: SagaTime?, endedAt: SagaTime) {
        self.step = step
        self.phase = phase
        self.outcome = outcome
        self.attempts = attempts
        self.startedAt = startedAt
        self.endedAt = endedAt
    }

    /// From the first attempt to the end, when the start is known.
    public var milliseconds: Int64? { startedAt.map { max(0, endedAt.millisecondsSince1970 - $0.millisecondsSince1970) } }
}

/// One line of a saga's timeline.
public struct SagaHistoryEntry: Sendable, Equatable {
    public enum Event: String, Sendable {
        case sagaStarted = "saga_started"
        case stepSkipped = "step_skipped"
        case commandSent = "command_sent"
        case stepSucceeded = "step_succeeded"
        case stepFailed = "step_failed"
        case attemptTimedOut = "attempt_timed_out"
        case attemptFailed = "attempt_failed"
        case stepTimedOut = "step_timed_out"
        case retryScheduled = "retry_scheduled"
        case compensationStarted = "compensation_started"
        case compensationSent = "compensation_sent"
        case stepCompensated = "step_compensated"
        case compensationFailed = "compensation_failed"
        case sagaCompleted = "saga_completed"
        case sagaCompensated = "saga_compensated"
        case sagaFailed = "saga_failed"
        case replyIgnored = "reply_ignored"
        case operatorRetry = "operator_retry"
        case operatorSkip = "operator_skip"
        case operatorCompensate = "operator_compensate"
        case operatorAbort = "operator_abort"
    }

    public var event: Event
    public var step: String?
    public var attempt: Int?
    public var detail: String?
    /// Who caused it, for an operator's input; `nil` for the saga's own steps.
    public var actor: String?

    public init(_ event: Event, step: String? = nil, attempt: Int? = nil, detail: String? = nil, actor: String? = nil) {
        self.event = event
        self.step = step
        self.attempt = attempt
        self.detail = detail
        self.actor = actor
    }
}

/// The result of one input: what to do, and what to append to the saga's history.
public struct SagaTransition: Sendable, Equatable {
    public var actions: [SagaAction] = []
    public var history: [SagaHistoryEntry] = []
    /// The steps whose command or compensation ended by this input: by a reply, or by running out
    /// of attempts (an operator's inputs end none).
    public var ended: [StepEnd] = []

    public init(actions: [SagaAction] = [], history: [SagaHistoryEntry] = []) {
        self.actions = actions
        self.history = history
    }
}

/// The saga state machine: pure code, no I/O and no clock. Each input is a `mutating func` that
/// returns the actions its caller runs (send, schedule a deadline, finish) and the history lines
/// it writes, all in the transaction that stores the new state.
///
/// Late, duplicate and out-of-date inputs are normal: a reply or deadline that does not belong
/// to the step attempt in flight changes nothing and is recorded as ignored.
public struct SagaStateMachine: Sendable {
    public let definition: SagaDefinition
    public internal(set) var state: SagaState

    public init(definition: SagaDefinition, state: SagaState) {
        precondition(
            definition.steps.map(\.name) == state.steps.map(\.name),
            "saga state does not match definition \(definition.name) v\(definition.version)")
        self.definition = definition
        self.state = state
    }

    // MARK: Inputs

    /// Starts the saga: marks `skipping` SKIPPED and sends the first step's command.
    public mutating func start(skipping: Set<String> = [], at now: SagaTime) -> SagaTransition {
        var transition = SagaTransition()
        guard state.status == .running, state.steps.allSatisfy({ $0.status == .pending }) else {
            preconditionFailure("start() on a saga that has already started")
        }
        transition.history.append(SagaHistoryEntry(.sagaStarted, detail: "\(definition.name) v\(definition.version)"))
        transition.actions.append(.emit(.started))
        for index in state.steps.indices where skipping.contains(state.steps[index].name) {
            precondition(definition.steps[index].skippable, "step \(state.steps[index].name) is not skippable")
            state.steps[index].status = .skipped
            transition.history.append(SagaHistoryEntry(.stepSkipped, step: state.steps[index].name))
        }
        advance(from: 0, at: now, into: &transition)
        return transition
    }

    /// A participant replied.
    public mutating func replyReceived(_ reply: StepReply, at now: SagaTime) -> SagaTransition {
        var transition = SagaTransition()
        guard let index = state.steps.firstIndex(where: { $0.name == reply.step }) else {
            return ignored(reply, because: "no such step", into: &transition)
        }
        let step = state.steps[index]
        switch (state.status, reply.phase) {
        case (.running, .command):
            guard step.status == .running else {
                return ignored(reply, because: "step is \(step.status.rawValue)", into: &transition)
            }
            guard reply.attempt == step.attempt else {
                return ignored(reply, because: "attempt \(reply.attempt) is not the current attempt \(step.attempt)", into: &transition)
            }
            switch reply.outcome {
            case .succeeded:
                state.steps[index].status = .succeeded
                ended(index, .command, at: now, into: &transition)
                transition.actions.append(.acceptResult(step: step.name, command: definition.steps[index].command))
                transition.history.append(SagaHistoryEntry(.stepSucceeded, step: step.name, attempt: reply.attempt))
                advance(from: index + 1, at: now, into: &transition)
            case .failed(let reason) where definition.kind(ofStepAt: index) == .retriable:
                // After the pivot the order stands: a refusal is retried, never compensated.
                transition.history.append(SagaHistoryEntry(.attemptFailed, step: step.name, attempt: reply.attempt, detail: reason))
                retryOrPark(index: index, phase: .command, reason: reason, at: now, into: &transition)
            case .failed(let reason):
                state.steps[index].status = .failed
                ended(index, .command, at: now, into: &transition)
                transition.history.append(SagaHistoryEntry(.stepFailed, step: step.name, attempt: reply.attempt, detail: reason))
                beginCompensation(reason: "\(step.name) failed: \(reason)", at: now, into: &transition)
            }
        case (.compensating, .compensation):
            guard step.status == .compensating else {
                return ignored(reply, because: "step is \(step.status.rawValue)", into: &transition)
            }
            guard reply.attempt == step.compensationAttempt else {
                return ignored(reply, because: "attempt \(reply.attempt) is not the current compensation attempt \(step.compensationAttempt)", into: &transition)
            }
            switch reply.outcome {
            case .succeeded:
                state.steps[index].status = .compensated
                ended(index, .compensation, at: now, into: &transition)
                transition.history.append(SagaHistoryEntry(.stepCompensated, step: step.name, attempt: reply.attempt))
                compensateNext(at: now, into: &transition)
            case .failed(let reason):
                transition.history.append(SagaHistoryEntry(.compensationFailed, step: step.name, attempt: reply.attempt, detail: reason))
                retryOrPark(index: index, phase: .compensation, reason: reason, at: now, into: &transition)
            }
        case (.running, .compensation), (.compensating, .command):
            return ignored(reply, because: "saga is \(state.status.rawValue)", into: &transition)
        case (.completed, _), (.compensated, _), (.failed, _):
            return ignored(reply, because: "saga is \(state.status.rawValue)", into: &transition)
        }
        return transition
    }

    /// The database's clock reached the saga's deadline (or later). Does nothing if the deadline
    /// moved on in the meantime.
    ///
    /// A reply deadline counts from when the broker confirmed the command (start-to-close), so the
    /// caller says what it knows of that command (`dispatch`, ignored for a retry deadline): one
    /// confirmed later than sent gets the rest of its time; one still waiting for the broker is
    /// waited for until the step's send timeout, then counts as a timed-out attempt.
    public mutating func deadlinePassed(at now: SagaTime, dispatch: CommandDispatch) -> SagaTransition {
        var transition = SagaTransition()
        guard let deadline = state.deadline, deadline.at <= now, !state.status.isFinal else { return transition }
        guard let index = state.steps.firstIndex(where: { $0.name == deadline.step }) else {
            preconditionFailure("deadline for unknown step \(deadline.step)")
        }
        let step = definition.steps[index]
        switch (deadline.kind, deadline.phase) {
        case (.retry, .command):
            send(index: index, phase: .command, attempt: state.steps[index].attempt + 1, at: now, into: &transition)
        case (.retry, .compensation):
            send(index: index, phase: .compensation, attempt: state.steps[index].compensationAttempt + 1, at: now, into: &transition)
        case (.reply, let phase):
            switch dispatch {
            case .confirmed(let confirmedAt) where confirmedAt.adding(milliseconds: step.timeoutMilliseconds) > now:
                var later = deadline
                later.at = confirmedAt.adding(milliseconds: step.timeoutMilliseconds)
                schedule(later, into: &transition)
            case .waiting where now < (deadline.sendBy ?? deadline.at):
                var later = deadline
                later.at = min(now.adding(milliseconds: step.timeoutMilliseconds), deadline.sendBy ?? deadline.at)
                schedule(later, into: &transition)
            case .waiting:
                let reason = "the broker did not take the command within \(step.sendTimeoutMilliseconds) ms"
                transition.history.append(SagaHistoryEntry(.attemptTimedOut, step: deadline.step, attempt: deadline.attempt, detail: reason))
                retryOrPark(index: index, phase: phase, reason: reason, at: now, into: &transition)
            case .confirmed:
                transition.history.append(SagaHistoryEntry(.attemptTimedOut, step: deadline.step, attempt: deadline.attempt))
                retryOrPark(index: index, phase: phase, reason: "no reply within \(step.timeoutMilliseconds) ms", at: now, into: &transition)
            }
        }
        return transition
    }

    // MARK: Moving forward

    /// Sends the first PENDING step at or after `index`, or completes the saga.
    mutating func advance(from index: Int, at now: SagaTime, into transition: inout SagaTransition) {
        guard let next = state.steps.indices.first(where: { $0 >= index && state.steps[$0].status == .pending }) else {
            state.status = .completed
            state.deadline = nil
            transition.actions.append(.cancelDeadline)
            announceCommit(into: &transition)
            transition.actions.append(.finish(.completed, committed: true))
            transition.history.append(SagaHistoryEntry(.sagaCompleted))
            return
        }
        state.steps[next].status = .running
        send(index: next, phase: .command, attempt: 1, at: now, into: &transition)
    }

    /// Sends one attempt and waits for its reply until the step's timeout.
    mutating func send(index: Int, phase: StepPhase, attempt: Int, at now: SagaTime, into transition: inout SagaTransition) {
        let definition = self.definition.steps[index]
        let type: String
        switch phase {
        case .command:
            state.steps[index].attempt = attempt
            if state.steps[index].startedAt == nil { state.steps[index].startedAt = now }
            type = definition.command
            transition.history.append(SagaHistoryEntry(.commandSent, step: definition.name, attempt: attempt, detail: type))
        case .compensation:
            guard let compensation = definition.compensation else { preconditionFailure("\(definition.name) has no compensation") }
            state.steps[index].compensationAttempt = attempt
            if state.steps[index].compensationStartedAt == nil { state.steps[index].compensationStartedAt = now }
            type = compensation
            transition.history.append(SagaHistoryEntry(.compensationSent, step: definition.name, attempt: attempt, detail: type))
        }
        transition.actions.append(.send(StepMessage(step: definition.name, participant: definition.participant, type: type, phase: phase, attempt: attempt)))
        // Checked first at the earliest the attempt could time out; counted for real from the
        // broker's confirm when it passes (``deadlinePassed(at:dispatch:)``).
        schedule(SagaDeadline(
            step: definition.name, phase: phase, attempt: attempt, kind: .reply,
            at: now.adding(milliseconds: definition.timeoutMilliseconds),
            sendBy: now.adding(milliseconds: definition.sendTimeoutMilliseconds)), into: &transition)
    }

    /// After a timeout (or a failed compensation): try again after a backoff, or give up.
    mutating func retryOrPark(index: Int, phase: StepPhase, reason: String, at now: SagaTime, into transition: inout SagaTransition) {
        let definition = self.definition.steps[index]
        let (policy, attempt) = phase == .command
            ? (definition.retry, state.steps[index].attempt)
            : (definition.compensationRetry, state.steps[index].compensationAttempt)
        if attempt < policy.attempts {
            let delay = policy.delayMilliseconds(afterAttempt: attempt, unit: jitterUnit(step: index, phase: phase, attempt: attempt))
            transition.history.append(SagaHistoryEntry(.retryScheduled, step: definition.name, attempt: attempt + 1, detail: "in \(delay) ms"))
            schedule(SagaDeadline(step: definition.name, phase: phase, attempt: attempt + 1, kind: .retry, at: now.adding(milliseconds: delay)), into: &transition)
            return
        }
        switch phase {
        case .command where self.definition.kind(ofStepAt: index) == .retriable:
            // The order stands, so nothing is undone: the saga waits for an operator, visible.
            state.steps[index].status = .failed
            ended(index, .command, at: now, into: &transition)
            state.status = .failed
            state.failureReason = "\(definition.name) did not succeed after \(attempts(attempt)) (last: \(reason)); "
                + "the steps before it stand, so the saga is parked for an operator instead of compensated"
            state.deadline = nil
            transition.actions.append(.cancelDeadline)
            announceCommit(into: &transition)
            transition.actions.append(.finish(.failed, committed: true))
            transition.history.append(SagaHistoryEntry(.sagaFailed, step: definition.name, attempt: attempt, detail: state.failureReason))
        case .command:
            state.steps[index].status = .timedOut
            ended(index, .command, at: now, into: &transition)
            transition.history.append(SagaHistoryEntry(.stepTimedOut, step: definition.name, attempt: attempt, detail: reason))
            beginCompensation(reason: "\(definition.name) timed out after \(attempts(attempt))", at: now, into: &transition)
        case .compensation:
            ended(index, .compensation, outcome: .failed, at: now, into: &transition)
            state.status = .failed
            state.failureReason = "compensation of \(definition.name) failed after \(attempts(attempt)): \(reason)"
            state.deadline = nil
            transition.actions.append(.cancelDeadline)
            transition.actions.append(.finish(.failed, committed: false))
            transition.history.append(SagaHistoryEntry(.sagaFailed, step: definition.name, attempt: attempt, detail: state.failureReason))
        }
    }

    // MARK: Compensating

    mutating func beginCompensation(reason: String, at now: SagaTime, into transition: inout SagaTransition) {
        state.status = .compensating
        state.failureReason = reason
        state.compensationReason = reason
        transition.history.append(SagaHistoryEntry(.compensationStarted, detail: reason))
        compensateNext(at: now, into: &transition)
    }

    /// Compensates the newest step that took effect (or may have), or ends the saga COMPENSATED.
    mutating func compensateNext(at now: SagaTime, into transition: inout SagaTransition) {
        let next = state.steps.indices.last { index in
            let status = state.steps[index].status
            return (status == .succeeded || status == .timedOut) && definition.steps[index].compensation != nil
        }
        guard let next else {
            state.status = .compensated
            state.deadline = nil
            transition.actions.append(.cancelDeadline)
            state.failureReason = state.compensationReason ?? state.failureReason
            transition.actions.append(.emit(.cancelled(reason: state.failureReason)))
            transition.actions.append(.finish(.compensated, committed: false))
            transition.history.append(SagaHistoryEntry(.sagaCompensated, detail: state.failureReason))
            return
        }
        state.steps[next].status = .compensating
        send(index: next, phase: .compensation, attempt: 1, at: now, into: &transition)
    }

    // MARK: Helpers

    /// Emits ``SagaEvent/committed`` the first time the saga ends committed: a saga an operator
    /// resumes after it was parked committed does not tell the world twice.
    mutating func announceCommit(into transition: inout SagaTransition) {
        guard state.commitAnnounced != true else { return }
        state.commitAnnounced = true
        transition.actions.append(.emit(.committed))
    }

    /// Notes that the step at `index` ended its `phase` with `outcome` (by default its status now).
    func ended(_ index: Int, _ phase: StepPhase, outcome: StepStatus? = nil, at now: SagaTime, into transition: inout SagaTransition) {
        let step = state.steps[index]
        transition.ended.append(StepEnd(
            step: step.name, phase: phase, outcome: outcome ?? step.status,
            attempts: phase == .command ? step.attempt : step.compensationAttempt,
            startedAt: phase == .command ? step.startedAt : step.compensationStartedAt, endedAt: now))
    }

    mutating func schedule(_ deadline: SagaDeadline, into transition: inout SagaTransition) {
        state.deadline = deadline
        transition.actions.append(.scheduleDeadline(deadline))
    }

    private func ignored(_ reply: StepReply, because reason: String, into transition: inout SagaTransition) -> SagaTransition {
        transition.history.append(SagaHistoryEntry(
            .replyIgnored, step: reply.step, attempt: reply.attempt, detail: "\(reply.phase.rawValue) reply ignored: \(reason)"))
        return transition
    }

    /// A number in [0, 1) fixed by the saga's seed and the attempt (splitmix64).
    private func jitterUnit(step: Int, phase: StepPhase, attempt: Int) -> Double {
        var z = state.jitterSeed &+ UInt64(step) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(attempt) &* 0xBF58_476D_1CE4_E5B9
        if phase == .compensation { z = ~z }
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z = z ^ (z >> 31)
        return Double(z >> 11) / Double(1 << 53)
    }

    func attempts(_ count: Int) -> String {
        count == 1 ? "1 attempt" : "\(count) attempts"
    }
}

/// Who gave an operator input, and why: both are written on its history line.
public struct OperatorNote: Sendable, Equatable {
    public var actor: String
    public var reason: String?

    public init(actor: String, reason: String?) {
        self.actor = actor
        self.reason = reason
    }
}

/// An operator input that the saga's state does not allow: says why, and what would help.
public struct OperatorRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// The operator's inputs: a person repairing a saga that needs one (parked FAILED, or stuck
/// waiting on a participant that will not answer). Each is an input like a reply: pure, it
/// returns the actions to run and history lines naming who and why, and a saga whose state does
/// not allow it is refused with a reason and left unchanged.
extension SagaStateMachine {
    /// The step a saga waits on or stopped at, and in which phase: the step RUNNING (forward),
    /// the step COMPENSATING (backward), or for a saga parked FAILED the compensation that gave up,
    /// else the step that gave up or was aborted.
    var stopped: (index: Int, phase: StepPhase)? {
        let steps = state.steps
        switch state.status {
        case .running:
            return steps.firstIndex { $0.status == .running }.map { ($0, .command) }
        case .compensating:
            return steps.firstIndex { $0.status == .compensating }.map { ($0, .compensation) }
        case .failed:
            if let index = steps.firstIndex(where: { $0.status == .compensating }) { return (index, .compensation) }
            return steps.lastIndex { $0.status == .failed }.map { ($0, .command) }
        case .completed, .compensated:
            return nil
        }
    }

    /// Whether the pivot and every step before it succeeded (or were skipped): what the saga did stands.
    var pivotPassed: Bool {
        guard let pivot = definition.pivotIndex else { return true }
        return state.steps[...pivot].allSatisfy { $0.status == .succeeded || $0.status == .skipped }
    }

    /// Resumes a saga parked FAILED, or one stuck waiting on a reply or a backoff, with a fresh
    /// attempt now of the command or compensation it stopped at. The attempt number goes up, so a
    /// late reply to an earlier attempt is still ignored. A parked saga gets this one attempt:
    /// if it fails too, the saga parks again.
    public mutating func retry(by note: OperatorNote, at now: SagaTime) throws(OperatorRefusal) -> SagaTransition {
        guard let (index, phase) = stopped else {
            throw OperatorRefusal("the saga is \(state.status.rawValue): it has nothing to retry")
        }
        var transition = SagaTransition()
        let step = state.steps[index]
        transition.history.append(operatorLine(.operatorRetry, step: step.name, note))
        switch phase {
        case .command:
            state.status = .running
            state.steps[index].status = .running
            state.failureReason = nil
            send(index: index, phase: .command, attempt: step.attempt + 1, at: now, into: &transition)
        case .compensation:
            state.status = .compensating
            state.failureReason = state.compensationReason ?? state.failureReason
            send(index: index, phase: .compensation, attempt: step.compensationAttempt + 1, at: now, into: &transition)
        }
        return transition
    }

    /// Marks the step the saga stopped at as done without its participant: a command as
    /// SUCCEEDED (its result, if the saga needs one, comes with the input: the caller merges it
    /// on ``SagaAction/acceptResult(step:command:)``), a compensation as COMPENSATED. Then the saga
    /// goes on as if the participant had answered.
    public mutating func skip(step name: String, by note: OperatorNote, at now: SagaTime) throws(OperatorRefusal) -> SagaTransition {
        guard let index = state.steps.firstIndex(where: { $0.name == name }) else {
            throw OperatorRefusal("the saga has no step \"\(name)\" (its steps: \(state.steps.map(\.name).joined(separator: ", ")))")
        }
        guard let (stoppedAt, phase) = stopped else {
            throw OperatorRefusal("the saga is \(state.status.rawValue): it has no step to skip")
        }
        guard stoppedAt == index else {
            throw OperatorRefusal(
                "step \(name) is \(state.steps[index].status.rawValue); only the step the saga stopped at, "
                    + "\(state.steps[stoppedAt].name), can be skipped")
        }
        var transition = SagaTransition()
        transition.history.append(operatorLine(.operatorSkip, step: name, note))
        switch phase {
        case .command:
            state.status = .running
            state.steps[index].status = .succeeded
            state.failureReason = nil
            transition.actions.append(.acceptResult(step: name, command: definition.steps[index].command))
            advance(from: index + 1, at: now, into: &transition)
        case .compensation:
            state.status = .compensating
            state.failureReason = state.compensationReason ?? state.failureReason
            state.steps[index].status = .compensated
            compensateNext(at: now, into: &transition)
        }
        return transition
    }

    /// Undoes what the saga did, newest first, from the step it is at: a step whose command is in
    /// flight counts as timed out (its effect is unknown, so it is compensated too). Allowed while
    /// the saga runs, and for a saga parked after its pivot (the order is then cancelled).
    public mutating func compensate(by note: OperatorNote, at now: SagaTime) throws(OperatorRefusal) -> SagaTransition {
        switch (state.status, stopped) {
        case (.failed, let stopped?) where stopped.phase == .command, (.running, let stopped?):
            // (A RUNNING saga's stopped step is always in its command phase.)
            var transition = SagaTransition()
            let name = state.steps[stopped.index].name
            transition.history.append(operatorLine(.operatorCompensate, step: name, note))
            if state.steps[stopped.index].status == .running { state.steps[stopped.index].status = .timedOut }
            beginCompensation(reason: "compensation asked for by \(note.actor)" + (note.reason.map { ": \($0)" } ?? ""), at: now, into: &transition)
            return transition
        case (.compensating, _):
            throw OperatorRefusal("the saga is already COMPENSATING")
        case (.failed, _):
            throw OperatorRefusal("the saga is FAILED because a compensation gave up: retry it, or skip it once it was undone by hand")
        case (.running, nil):
            preconditionFailure("a RUNNING saga with no step RUNNING")
        case (.completed, _), (.compensated, _):
            throw OperatorRefusal("the saga is \(state.status.rawValue): it has ended")
        }
    }

    /// Ends a RUNNING or COMPENSATING saga as FAILED without sending anything more: the step it
    /// stopped at stays as it is, for a person to settle by hand. A saga past its pivot ends
    /// committed (its order stands). An aborted saga can be retried.
    public mutating func abort(by note: OperatorNote, at now: SagaTime) throws(OperatorRefusal) -> SagaTransition {
        guard let (index, phase) = stopped, state.status == .running || state.status == .compensating else {
            throw OperatorRefusal("the saga is \(state.status.rawValue): only a RUNNING or COMPENSATING saga can be aborted")
        }
        var transition = SagaTransition()
        let name = state.steps[index].name
        transition.history.append(operatorLine(.operatorAbort, step: name, note))
        let committed = state.status == .running && pivotPassed
        if phase == .command { state.steps[index].status = .failed }
        state.status = .failed
        state.failureReason = "aborted by \(note.actor)" + (note.reason.map { ": \($0)" } ?? "")
        state.deadline = nil
        transition.actions.append(.cancelDeadline)
        if committed { announceCommit(into: &transition) }
        transition.actions.append(.finish(.failed, committed: committed))
        transition.history.append(SagaHistoryEntry(.sagaFailed, step: name, detail: state.failureReason))
        return transition
    }

    private func operatorLine(_ event: SagaHistoryEntry.Event, step: String, _ note: OperatorNote) -> SagaHistoryEntry {
        SagaHistoryEntry(event, step: step, detail: note.reason, actor: note.actor)
    }
}

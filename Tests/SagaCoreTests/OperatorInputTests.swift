import SagaCore
import Testing

/// The operator's inputs (retry, skip, compensate, abort) as transcripts: given a saga parked or
/// stuck, expect these commands to these participants, these history lines, or a refusal that
/// leaves the saga as it was.
@Suite struct OperatorInputTests {
    typealias Driver = SagaStateMachineTests.Driver
    static let alice = OperatorNote(actor: "alice", reason: "worker fixed")

    /// A saga whose refund never succeeded: parked FAILED while compensating the payment.
    static func parkedWhileCompensating() -> Driver {
        var driver = Driver()
        driver.run { message in
            if message.phase == .command { return message.step == "cart-convert" ? .fail : .succeed }
            return message.step == "payment" ? .silence : .succeed
        }
        precondition(driver.machine.state.status == .failed)
        return driver
    }

    /// A saga whose confirmation never went out: parked FAILED after its pivot.
    static func parkedAfterThePivot() -> Driver {
        var driver = Driver()
        driver.run { message in message.step == "notify" ? .silence : .succeed }
        precondition(driver.machine.state.status == .failed)
        return driver
    }

    /// A saga waiting on its payment's reply, which never comes.
    static func stuckAtPayment() -> Driver {
        var driver = Driver()
        var queue = driver.record(driver.machine.start(at: driver.now))
        while let message = queue.first, message.step != "payment" {
            queue.removeFirst()
            queue += driver.record(driver.machine.replyReceived(
                StepReply(step: message.step, phase: message.phase, attempt: message.attempt, outcome: .succeeded), at: driver.now))
        }
        precondition(driver.machine.state.steps[2].status == .running)
        return driver
    }

    // MARK: retry

    @Test func retryOfAParkedCompensationSendsAFreshAttemptAndFinishesTheUndoing() throws {
        var driver = Self.parkedWhileCompensating()
        let attempts = driver.machine.state.steps[2].compensationAttempt
        let retry = try driver.machine.retry(by: Self.alice, at: driver.now)
        #expect(retry.history.first == SagaHistoryEntry(.operatorRetry, step: "payment", detail: "worker fixed", actor: "alice"))
        #expect(retry.actions.first == .send(StepMessage(
            step: "payment", participant: "identity", type: "identity.refund_payment", phase: .compensation, attempt: attempts + 1)))
        driver.resume(retry) { _ in .succeed }
        #expect(driver.machine.state.status == .compensated)
        #expect(driver.compensations.suffix(3) == ["payment", "validate-coupon", "reserve-inventory"])
        #expect(driver.finished == [.failed, .compensated])
        #expect(driver.events.last == .cancelled(reason: "cart-convert failed: refused"))
    }

    @Test func retryOfASagaParkedAfterThePivotCompletesWithoutAnnouncingTheCommitTwice() throws {
        var driver = Self.parkedAfterThePivot()
        #expect(driver.events == [.started, .committed])
        let retry = try driver.machine.retry(by: Self.alice, at: driver.now)
        #expect(driver.machine.state.status == .running)
        #expect(driver.machine.state.failureReason == nil)
        driver.resume(retry) { _ in .succeed }
        #expect(driver.machine.state.status == .completed)
        #expect(driver.sent.filter { $0.step == "notify" }.map(\.attempt) == [1, 2, 3])
        #expect(driver.events == [.started, .committed])
        #expect(driver.committed == [true, true])
    }

    @Test func retryThatFailsTooParksTheSagaAgain() throws {
        var driver = Self.parkedAfterThePivot()
        let retry = try driver.machine.retry(by: Self.alice, at: driver.now)
        driver.resume(retry) { _ in .silence }
        #expect(driver.finished == [.failed, .failed])
        #expect(driver.machine.state.failureReason?.hasPrefix("notify did not succeed after 3 attempts") == true)
    }

    @Test func retryOfAStuckStepSendsTheNextAttemptNowAndIgnoresTheOldOne() throws {
        var driver = Self.stuckAtPayment()
        let retry = try driver.machine.retry(by: OperatorNote(actor: "bob", reason: nil), at: driver.now)
        #expect(retry.actions.contains(.send(StepMessage(
            step: "payment", participant: "identity", type: "identity.charge_payment", phase: .command, attempt: 2))))
        let late = driver.machine.replyReceived(StepReply(step: "payment", phase: .command, attempt: 1, outcome: .succeeded), at: driver.now)
        #expect(late.history.map(\.event) == [.replyIgnored])
    }

    @Test func retryOfAnEndedSagaIsRefusedAndChangesNothing() {
        var driver = Driver()
        driver.run { _ in .succeed }
        let before = driver.machine.state
        #expect(throws: OperatorRefusal("the saga is COMPLETED: it has nothing to retry")) {
            try driver.machine.retry(by: Self.alice, at: driver.now)
        }
        #expect(driver.machine.state == before)
    }

    // MARK: skip

    @Test func skipOfAStuckStepMarksItDoneAcceptsTheSuppliedResultAndGoesOn() throws {
        var driver = Self.stuckAtPayment()
        let skip = try driver.machine.skip(step: "payment", by: Self.alice, at: driver.now)
        #expect(skip.history.first?.event == .operatorSkip)
        #expect(skip.actions.first == .acceptResult(step: "payment", command: "identity.charge_payment"))
        #expect(skip.actions.contains { if case .send(let m) = $0 { m.step == "cart-convert" } else { false } })
        driver.resume(skip) { _ in .succeed }
        #expect(driver.machine.state.status == .completed)
        #expect(driver.status("payment") == .succeeded)
    }

    @Test func skipOfAParkedCompensationCountsItUndoneAndUndoesTheRest() throws {
        var driver = Self.parkedWhileCompensating()
        let skip = try driver.machine.skip(step: "payment", by: Self.alice, at: driver.now)
        #expect(!skip.actions.contains { if case .acceptResult = $0 { true } else { false } })
        driver.resume(skip) { _ in .succeed }
        #expect(driver.machine.state.status == .compensated)
        #expect(driver.status("payment") == .compensated)
        #expect(driver.compensations.suffix(2) == ["validate-coupon", "reserve-inventory"])
    }

    @Test func skipOfAStepTheSagaIsNotAtIsRefused() {
        var driver = Self.stuckAtPayment()
        let before = driver.machine.state
        #expect(throws: OperatorRefusal("step reserve-inventory is SUCCEEDED; only the step the saga stopped at, payment, can be skipped")) {
            try driver.machine.skip(step: "reserve-inventory", by: Self.alice, at: driver.now)
        }
        #expect(throws: OperatorRefusal("the saga has no step \"ship\" (its steps: reserve-inventory, validate-coupon, payment, cart-convert, notify)")) {
            try driver.machine.skip(step: "ship", by: Self.alice, at: driver.now)
        }
        #expect(driver.machine.state == before)
    }

    // MARK: compensate

    @Test func compensateOfARunningSagaUndoesTheStepInFlightAndEverythingBefore() throws {
        var driver = Self.stuckAtPayment()
        let compensate = try driver.machine.compensate(by: Self.alice, at: driver.now)
        #expect(compensate.history.map(\.event).prefix(2) == [.operatorCompensate, .compensationStarted])
        #expect(compensate.actions.first == .send(StepMessage(
            step: "payment", participant: "identity", type: "identity.refund_payment", phase: .compensation, attempt: 1)))
        driver.resume(compensate) { _ in .succeed }
        #expect(driver.compensations == ["payment", "validate-coupon", "reserve-inventory"])
        #expect(driver.machine.state.status == .compensated)
        #expect(driver.machine.state.failureReason == "compensation asked for by alice: worker fixed")
    }

    @Test func compensateOfASagaParkedAfterThePivotCancelsTheOrder() throws {
        var driver = Self.parkedAfterThePivot()
        let compensate = try driver.machine.compensate(by: Self.alice, at: driver.now)
        driver.resume(compensate) { _ in .succeed }
        #expect(driver.compensations == ["cart-convert", "payment", "validate-coupon", "reserve-inventory"])
        #expect(driver.finished == [.failed, .compensated])
        #expect(driver.committed == [true, false])
        #expect(driver.events.last == .cancelled(reason: "compensation asked for by alice: worker fixed"))
    }

    @Test func compensateIsRefusedWhileCompensatingOrWhenACompensationGaveUp() {
        var parked = Self.parkedWhileCompensating()
        #expect(throws: OperatorRefusal("the saga is FAILED because a compensation gave up: retry it, or skip it once it was undone by hand")) {
            try parked.machine.compensate(by: Self.alice, at: parked.now)
        }
        var driver = Self.stuckAtPayment()
        _ = try? driver.machine.compensate(by: Self.alice, at: driver.now)
        #expect(throws: OperatorRefusal("the saga is already COMPENSATING")) {
            try driver.machine.compensate(by: Self.alice, at: driver.now)
        }
    }

    // MARK: abort

    @Test func abortEndsTheSagaFailedWithoutSendingAnythingAndCanBeRetried() throws {
        var driver = Self.stuckAtPayment()
        let abort = try driver.machine.abort(by: OperatorNote(actor: "carol", reason: "customer called"), at: driver.now)
        #expect(!abort.actions.contains { if case .send = $0 { true } else { false } })
        #expect(abort.actions == [.cancelDeadline, .finish(.failed, committed: false)])
        #expect(abort.history.map(\.event) == [.operatorAbort, .sagaFailed])
        #expect(abort.history.first?.actor == "carol")
        #expect(driver.machine.state.status == .failed)
        #expect(driver.machine.state.deadline == nil)
        #expect(driver.machine.state.failureReason == "aborted by carol: customer called")
        // Aborted is parked, not lost: a retry resumes at the step it stopped at.
        let retry = try driver.machine.retry(by: Self.alice, at: driver.now)
        driver.resume(retry) { _ in .succeed }
        #expect(driver.machine.state.status == .completed)
    }

    @Test func abortAfterThePivotEndsCommitted() throws {
        var driver = Driver()
        var queue = driver.record(driver.machine.start(at: driver.now))
        while let message = queue.first, message.step != "notify" {
            queue.removeFirst()
            queue += driver.record(driver.machine.replyReceived(
                StepReply(step: message.step, phase: message.phase, attempt: message.attempt, outcome: .succeeded), at: driver.now))
        }
        let abort = try driver.machine.abort(by: Self.alice, at: driver.now)
        #expect(abort.actions == [.cancelDeadline, .emit(.committed), .finish(.failed, committed: true)])
    }

    @Test func abortOfAnEndedOrParkedSagaIsRefused() {
        var driver = Self.parkedAfterThePivot()
        let before = driver.machine.state
        #expect(throws: OperatorRefusal("the saga is FAILED: only a RUNNING or COMPENSATING saga can be aborted")) {
            try driver.machine.abort(by: Self.alice, at: driver.now)
        }
        #expect(driver.machine.state == before)
    }
}

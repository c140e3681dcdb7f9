import SagaCore
import Testing

/// Transcripts, as Eventuate Tram's CreateOrderSagaTest reads: given a saga and its inputs,
/// expect these commands to these participants, in this order.
@Suite struct SagaStateMachineTests {
    static let retry = RetryPolicy(attempts: 2, backoffMilliseconds: 100, maxDelayMilliseconds: 1000, jitter: 0)
    static let definition = SagaDefinition(name: "create_order", version: 1, steps: [
        StepDefinition(name: "reserve-inventory", participant: "catalog", command: "catalog.reserve_inventory", compensation: "catalog.release_inventory", timeoutMilliseconds: 1000, retry: retry),
        StepDefinition(name: "validate-coupon", participant: "promotion", command: "promotion.redeem_coupon", compensation: "promotion.release_coupon", timeoutMilliseconds: 1000, retry: retry, skippable: true),
        StepDefinition(name: "payment", participant: "identity", command: "identity.charge_payment", compensation: "identity.refund_payment", timeoutMilliseconds: 1000, retry: retry),
        StepDefinition(name: "cart-convert", participant: "cart", command: "cart.convert_cart", compensation: "cart.restore_cart", timeoutMilliseconds: 1000, retry: retry),
        StepDefinition(name: "notify", participant: "notification", command: "notification.send_confirmation", compensation: nil, timeoutMilliseconds: 1000, retry: retry),
    ])
    static let compensable = ["reserve-inventory", "validate-coupon", "payment", "cart-convert"]
    static let start = SagaTime(millisecondsSince1970: 0)

    /// Drives a saga, answering each message as `answer` says; returns every message sent.
    struct Driver {
        var machine = SagaStateMachine(definition: SagaStateMachineTests.definition, state: SagaState(definition: SagaStateMachineTests.definition, jitterSeed: 42))
        var now = SagaTime(millisecondsSince1970: 1_000_000)
        var sent: [StepMessage] = []
        var finished: [SagaStatus] = []
        var committed: [Bool] = []
        var events: [SagaEvent] = []
        /// Every action, in order, for checks on what comes before what.
        var actions: [SagaAction] = []
        var history: [SagaHistoryEntry] = []
        var ended: [StepEnd] = []
        /// When the message in flight was sent; the broker confirms it at once.
        var sentAt = SagaTime(millisecondsSince1970: 0)

        mutating func record(_ transition: SagaTransition) -> [StepMessage] {
            history += transition.history
            ended += transition.ended
            if transition.actions.contains(where: { if case .send = $0 { true } else { false } }) { sentAt = now }
            var messages: [StepMessage] = []
            actions += transition.actions
            for action in transition.actions {
                switch action {
                case .send(let message): messages.append(message)
                case .finish(let status, let committed):
                    finished.append(status)
                    self.committed.append(committed)
                case .emit(let event): events.append(event)
                case .scheduleDeadline, .cancelDeadline, .acceptResult: break
                }
            }
            sent += messages
            return messages
        }

        enum Answer { case succeed, fail, silence }

        /// Runs until the saga is final; `answer` decides each reply. Silence lets deadlines pass.
        mutating func run(skipping: Set<String> = [], answer: (StepMessage) -> Answer) {
            let started = machine.start(skipping: skipping, at: now)
            resume(started, answer: answer)
        }

        /// Records `transition` (an input given from outside, such as an operator's), then runs
        /// until the saga is final again.
        mutating func resume(_ transition: SagaTransition, answer: (StepMessage) -> Answer) {
            var queue = record(transition)
            var guardCount = 0
            while !machine.state.status.isFinal {
                guardCount += 1
                precondition(guardCount < 200, "saga did not finish")
                if let message = queue.first {
                    queue.removeFirst()
                    switch answer(message) {
                    case .succeed:
                        queue += record(machine.replyReceived(StepReply(step: message.step, phase: message.phase, attempt: message.attempt, outcome: .succeeded), at: now))
                    case .fail:
                        queue += record(machine.replyReceived(StepReply(step: message.step, phase: message.phase, attempt: message.attempt, outcome: .failed(reason: "refused")), at: now))
                    case .silence:
                        break
                    }
                } else {
                    let deadline = machine.state.deadline!
                    now = deadline.at
                    queue += record(machine.deadlinePassed(at: now, dispatch: .confirmed(at: sentAt)))
                }
            }
        }

        var commands: [String] { sent.filter { $0.phase == .command }.map(\.step) }
        var compensations: [String] { sent.filter { $0.phase == .compensation }.map(\.step) }
        func status(_ step: String) -> StepStatus { machine.state.steps.first { $0.name == step }!.status }
    }

    /// cancel_order's shape: no step has a compensation, so every step is retriable. A refusal is
    /// retried, never compensated, and the saga ends COMPLETED, committed; past its attempts it is
    /// parked FAILED, still committed (what it undid stays undone).
    @Test func aSagaWithoutCompensationsRetriesRefusalsAndNeverCompensates() {
        let definition = SagaDefinition(name: "cancel_order", version: 1, steps: [
            StepDefinition(name: "refund-payment", participant: "identity", command: "identity.refund_payment", compensation: nil,
                           timeoutMilliseconds: 1000, retry: RetryPolicy(attempts: 3, backoffMilliseconds: 100, maxDelayMilliseconds: 1000, jitter: 0)),
            StepDefinition(name: "notify-cancellation", participant: "notification", command: "notification.send_cancellation",
                           compensation: nil, timeoutMilliseconds: 1000, retry: Self.retry),
        ])
        #expect(definition.pivotIndex == nil)
        var driver = Driver()
        driver.machine = SagaStateMachine(definition: definition, state: SagaState(definition: definition, jitterSeed: 42))
        var refusals = 0
        driver.run { message in
            guard message.step == "refund-payment", refusals < 2 else { return .succeed }
            refusals += 1
            return .fail
        }
        #expect(driver.sent.map { "\($0.step):\($0.phase.rawValue):\($0.attempt)" } == [
            "refund-payment:command:1", "refund-payment:command:2", "refund-payment:command:3", "notify-cancellation:command:1",
        ])
        #expect(driver.finished == [.completed] && driver.committed == [true])
        #expect(driver.events == [.started, .committed])

        var parked = Driver()
        parked.machine = SagaStateMachine(definition: definition, state: SagaState(definition: definition, jitterSeed: 42))
        parked.run { $0.step == "notify-cancellation" ? .fail : .succeed }
        #expect(parked.compensations == [])
        #expect(parked.finished == [.failed] && parked.committed == [true])
    }

    @Test func happyPathSendsEveryCommandInOrderAndCompletes() {
        var driver = Driver()
        driver.run { _ in .succeed }
        #expect(driver.commands == ["reserve-inventory", "validate-coupon", "payment", "cart-convert", "notify"])
        #expect(driver.sent.map(\.participant) == ["catalog", "promotion", "identity", "cart", "notification"])
        #expect(driver.compensations == [])
        #expect(driver.finished == [.completed])
        #expect(driver.committed == [true])
        #expect(driver.events == [.started, .committed])
        #expect(driver.machine.state.deadline == nil)
        // Each result is accepted before the next command, whose payload may need it.
        let order = driver.actions.compactMap { action -> String? in
            switch action {
            case .acceptResult(let step, _): "accept \(step)"
            case .send(let message): "send \(message.step)"
            default: nil
            }
        }
        #expect(order == [
            "send reserve-inventory", "accept reserve-inventory", "send validate-coupon", "accept validate-coupon",
            "send payment", "accept payment", "send cart-convert", "accept cart-convert", "send notify", "accept notify",
        ])
    }

    @Test(arguments: ["reserve-inventory", "validate-coupon", "payment", "cart-convert"])
    func failingStepCompensatesExactlyTheSucceededStepsInReverse(failing: String) {
        var driver = Driver()
        driver.run { message in message.phase == .command && message.step == failing ? .fail : .succeed }
        let index = Self.definition.steps.firstIndex { $0.name == failing }!
        let succeeded = Self.definition.steps[..<index].map(\.name).filter { Self.compensable.contains($0) }
        #expect(driver.compensations == Array(succeeded.reversed()))
        #expect(driver.finished == [.compensated])
        #expect(driver.events == [.started, .cancelled(reason: driver.machine.state.failureReason)])
        #expect(driver.status(failing) == .failed)
        for step in succeeded { #expect(driver.status(step) == .compensated) }
        #expect(driver.machine.state.failureReason?.contains(failing) == true)
    }

    @Test(arguments: ["reserve-inventory", "validate-coupon", "payment", "cart-convert"])
    func timedOutStepIsRetriedThenCompensatedWithTheSucceededStepsInReverse(silent: String) {
        var driver = Driver()
        driver.run { message in message.phase == .command && message.step == silent ? .silence : .succeed }
        // Retried to its limit, with the attempt number rising.
        #expect(driver.sent.filter { $0.step == silent && $0.phase == .command }.map(\.attempt) == [1, 2])
        // Its effect is unknown, so it is undone first (a no-op if it never ran), then the rest in reverse.
        let index = Self.definition.steps.firstIndex { $0.name == silent }!
        let succeeded = Self.definition.steps[..<index].map(\.name)
        #expect(driver.compensations == [silent] + succeeded.reversed())
        #expect(driver.finished == [.compensated])
        #expect(driver.history.contains { $0.event == .stepTimedOut && $0.step == silent })
        #expect(driver.machine.state.failureReason == "\(silent) timed out after 2 attempts")
    }

    @Test func eachStepThatEndsSaysHowAndHowLongFromItsFirstAttempt() {
        var driver = Driver()
        let sagaStart = driver.now
        driver.run { message in message.phase == .command && message.step == "payment" ? .silence : .succeed }
        // The two steps before payment succeed at once (replies come without time passing).
        #expect(driver.ended.prefix(2) == [
            StepEnd(step: "reserve-inventory", phase: .command, outcome: .succeeded, attempts: 1, startedAt: sagaStart, endedAt: sagaStart),
            StepEnd(step: "validate-coupon", phase: .command, outcome: .succeeded, attempts: 1, startedAt: sagaStart, endedAt: sagaStart),
        ])
        // Payment times out after two attempts: from its first send to the last deadline.
        let payment = driver.ended[2]
        #expect(payment.step == "payment" && payment.phase == .command && payment.outcome == .timedOut && payment.attempts == 2)
        #expect(payment.startedAt == sagaStart)
        #expect(payment.milliseconds == payment.endedAt.millisecondsSince1970 - sagaStart.millisecondsSince1970)
        #expect((payment.milliseconds ?? 0) >= 2 * 1000)  // two attempts of a 1 s timeout, and a backoff between
        // Then each compensation ends COMPENSATED, newest first, timed from its own first attempt.
        #expect(driver.ended.dropFirst(3).map { "\($0.step) \($0.phase.rawValue) \($0.outcome.rawValue)" } == [
            "payment compensation COMPENSATED", "validate-coupon compensation COMPENSATED", "reserve-inventory compensation COMPENSATED",
        ])
        #expect(driver.ended.dropFirst(3).allSatisfy { $0.startedAt == payment.endedAt && $0.milliseconds == 0 })
        // The state keeps when each step began (stored with it: see stateSurvivesAJSONRoundTrip).
        #expect(driver.machine.state.steps[2].startedAt == sagaStart)
        #expect(driver.machine.state.steps[2].compensationStartedAt == payment.endedAt)
        #expect(driver.machine.state.steps[4].startedAt == nil)
    }

    @Test func aCompensationThatGivesUpEndsFailed() {
        var driver = Driver()
        driver.run { message in
            if message.phase == .command { return message.step == "payment" ? .fail : .succeed }
            return message.step == "reserve-inventory" ? .fail : .succeed
        }
        #expect(driver.ended.map { "\($0.step) \($0.phase.rawValue) \($0.outcome.rawValue) \($0.attempts)" } == [
            "reserve-inventory command SUCCEEDED 1", "validate-coupon command SUCCEEDED 1", "payment command FAILED 1",
            "validate-coupon compensation COMPENSATED 1",
            "reserve-inventory compensation FAILED \(Self.definition.steps[0].compensationRetry.attempts)",
        ])
    }

    @Test func failureReasonCountsASingleAttemptInTheSingular() {
        let once = RetryPolicy(attempts: 1, backoffMilliseconds: 100, maxDelayMilliseconds: 1000, jitter: 0)
        let definition = SagaDefinition(name: "create_order", version: 1, steps: [
            StepDefinition(name: "reserve-inventory", participant: "catalog", command: "catalog.reserve_inventory", compensation: "catalog.release_inventory", timeoutMilliseconds: 1000, retry: once),
        ])
        var machine = SagaStateMachine(definition: definition, state: SagaState(definition: definition, jitterSeed: 1))
        _ = machine.start(skipping: [], at: Self.start)
        _ = machine.deadlinePassed(at: machine.state.deadline!.at, dispatch: .confirmed(at: Self.start))
        #expect(machine.state.status == .compensating)
        #expect(machine.state.failureReason == "reserve-inventory timed out after 1 attempt")
    }

    @Test func stepKindsFollowFromTheCompensations() {
        #expect((0..<5).map(Self.definition.kind(ofStepAt:)) == [.compensable, .compensable, .compensable, .pivot, .retriable])
    }

    @Test func notifyThatNeverAnswersIsRetriedThenParkedNeverCompensated() {
        var driver = Driver()
        driver.run { message in message.step == "notify" ? .silence : .succeed }
        // After the pivot the order stands: nothing is undone, the saga waits for an operator.
        #expect(driver.compensations == [])
        #expect(driver.sent.filter { $0.step == "notify" }.map(\.attempt) == [1, 2])
        #expect(driver.finished == [.failed])
        #expect(driver.status("cart-convert") == .succeeded)
        #expect(driver.status("notify") == .failed)
        #expect(driver.machine.state.failureReason?.hasPrefix("notify did not succeed after 2 attempts") == true)
        #expect(!driver.history.contains { $0.event == .compensationStarted })
        // The order stands: the committed event goes out, and the finish says so.
        #expect(driver.events == [.started, .committed])
        #expect(driver.committed == [true])
    }

    @Test func notifyRefusedIsRetriedAndCompletesWhenItSucceeds() {
        var driver = Driver()
        var refusals = 0
        driver.run { message in
            guard message.step == "notify" else { return .succeed }
            refusals += 1
            return refusals == 1 ? .fail : .succeed
        }
        #expect(driver.sent.filter { $0.step == "notify" }.map(\.attempt) == [1, 2])
        #expect(driver.compensations == [])
        #expect(driver.finished == [.completed])
        #expect(driver.history.contains { $0.event == .attemptFailed && $0.step == "notify" })
    }

    @Test func notifyAlwaysRefusedIsParkedNotCompensated() {
        var driver = Driver()
        driver.run { message in message.step == "notify" ? .fail : .succeed }
        #expect(driver.compensations == [])
        #expect(driver.finished == [.failed])
        #expect(driver.machine.state.failureReason?.contains("refused") == true)
    }

    // MARK: Start-to-close timeouts

    /// A saga whose first command (reserve-inventory, timeout 1 s, send timeout `sendTimeout`) was
    /// written at ``start`` and whose deadline is due.
    static func sagaWaitingForItsFirstReply(sendTimeout: Int = 10_000) -> SagaStateMachine {
        var definition = Self.definition
        definition.steps[0].sendTimeoutMilliseconds = sendTimeout
        var machine = SagaStateMachine(definition: definition, state: SagaState(definition: definition, jitterSeed: 1))
        _ = machine.start(at: start)
        return machine
    }

    @Test func timeoutCountsFromTheBrokersConfirmNotFromTheOutboxWrite() {
        var machine = Self.sagaWaitingForItsFirstReply()
        #expect(machine.state.deadline?.at == Self.start.adding(milliseconds: 1000))
        // The broker was down: at the first check the command still waits in the outbox.
        let waiting = machine.deadlinePassed(at: Self.start.adding(milliseconds: 1000), dispatch: .waiting)
        #expect(waiting.history.isEmpty)
        #expect(waiting.actions == [.scheduleDeadline(machine.state.deadline!)])
        #expect(machine.state.deadline?.at == Self.start.adding(milliseconds: 2000))
        // It was confirmed at 1.5 s: the attempt has until 2.5 s, not a timeout at 2 s.
        let confirmed = machine.deadlinePassed(at: Self.start.adding(milliseconds: 2000), dispatch: .confirmed(at: Self.start.adding(milliseconds: 1500)))
        #expect(confirmed.history.isEmpty)
        #expect(machine.state.deadline?.at == Self.start.adding(milliseconds: 2500))
        #expect(machine.state.deadline?.attempt == 1)
        let reply = machine.replyReceived(StepReply(step: "reserve-inventory", phase: .command, attempt: 1, outcome: .succeeded), at: Self.start.adding(milliseconds: 2400))
        #expect(reply.actions.contains { if case .send(let m) = $0 { m.step == "validate-coupon" } else { false } })
        #expect(machine.state.steps[0].status == .succeeded)
    }

    @Test func confirmedCommandWithoutAReplyTimesOutAfterItsTimeout() {
        var machine = Self.sagaWaitingForItsFirstReply()
        let timedOut = machine.deadlinePassed(at: Self.start.adding(milliseconds: 1000), dispatch: .confirmed(at: Self.start))
        #expect(timedOut.history.map(\.event) == [.attemptTimedOut, .retryScheduled])
    }

    @Test func commandTheBrokerNeverTookTimesOutAfterTheSendTimeout() {
        var machine = Self.sagaWaitingForItsFirstReply(sendTimeout: 2500)
        var now = Self.start.adding(milliseconds: 1000)
        // Re-checked every timeout while it waits, never past the send timeout.
        for expected in [2000, 2500] {
            #expect(machine.deadlinePassed(at: now, dispatch: .waiting).history.isEmpty)
            #expect(machine.state.deadline?.at == Self.start.adding(milliseconds: expected))
            now = machine.state.deadline!.at
        }
        let timedOut = machine.deadlinePassed(at: now, dispatch: .waiting)
        #expect(timedOut.history.first?.event == .attemptTimedOut)
        #expect(timedOut.history.first?.detail == "the broker did not take the command within 2500 ms")
        #expect(machine.state.deadline?.kind == .retry)
    }

    @Test func stateSavedWithoutASendBoundTimesOutAsBefore() throws {
        var machine = Self.sagaWaitingForItsFirstReply()
        var state = machine.state
        state.deadline?.sendBy = nil
        machine = SagaStateMachine(definition: Self.definition, state: state)
        let timedOut = machine.deadlinePassed(at: state.deadline!.at, dispatch: .waiting)
        #expect(timedOut.history.first?.event == .attemptTimedOut)
    }

    @Test func skippedStepIsNeitherSentNorCompensated() {
        var driver = Driver()
        driver.run(skipping: ["validate-coupon"]) { message in message.phase == .command && message.step == "cart-convert" ? .fail : .succeed }
        #expect(driver.commands == ["reserve-inventory", "payment", "cart-convert"])
        #expect(driver.compensations == ["payment", "reserve-inventory"])
        #expect(driver.status("validate-coupon") == .skipped)
    }

    @Test func compensationThatKeepsFailingParksTheSagaAsFailed() {
        var driver = Driver()
        driver.run { message in
            if message.phase == .command { return message.step == "payment" ? .fail : .succeed }
            return message.step == "reserve-inventory" ? .fail : .succeed
        }
        let attempts = Self.definition.steps[0].compensationRetry.attempts
        #expect(driver.compensations == ["validate-coupon"] + Array(repeating: "reserve-inventory", count: attempts))
        #expect(driver.finished == [.failed])
        #expect(driver.machine.state.status == .failed)
        #expect(driver.machine.state.failureReason?.contains("reserve-inventory") == true)
        #expect(driver.committed == [false])
        #expect(driver.events == [.started])
    }

    @Test func duplicateStaleAndLateRepliesChangeNothing() {
        var machine = SagaStateMachine(definition: Self.definition, state: SagaState(definition: Self.definition, jitterSeed: 1))
        var now = SagaTime(millisecondsSince1970: 0)
        _ = machine.start(at: now)
        // Attempt 1 times out; attempt 2 is sent after the backoff.
        now = machine.state.deadline!.at
        _ = machine.deadlinePassed(at: now, dispatch: .confirmed(at: SagaTime(millisecondsSince1970: 0)))
        now = machine.state.deadline!.at
        let retry = machine.deadlinePassed(at: now, dispatch: .confirmed(at: SagaTime(millisecondsSince1970: 0)))
        #expect(retry.actions.contains(.send(StepMessage(step: "reserve-inventory", participant: "catalog", type: "catalog.reserve_inventory", phase: .command, attempt: 2))))
        // The late reply of attempt 1 is ignored.
        let stale = machine.replyReceived(StepReply(step: "reserve-inventory", phase: .command, attempt: 1, outcome: .failed(reason: "late")), at: now)
        #expect(stale.actions.isEmpty)
        #expect(stale.history.map(\.event) == [.replyIgnored])
        #expect(machine.state.steps[0].status == .running)
        // Attempt 2's reply moves the saga once; the same reply again moves it no further.
        let first = machine.replyReceived(StepReply(step: "reserve-inventory", phase: .command, attempt: 2, outcome: .succeeded), at: now)
        #expect(first.actions.contains { if case .send(let m) = $0 { m.step == "validate-coupon" } else { false } })
        let before = machine.state
        let duplicate = machine.replyReceived(StepReply(step: "reserve-inventory", phase: .command, attempt: 2, outcome: .succeeded), at: now)
        #expect(duplicate.actions.isEmpty)
        #expect(machine.state == before)
        // A reply out of order (for a step not yet running) is ignored too.
        let early = machine.replyReceived(StepReply(step: "payment", phase: .command, attempt: 1, outcome: .succeeded), at: now)
        #expect(early.actions.isEmpty)
        #expect(machine.state == before)
    }

    @Test func replyForAFinishedSagaIsRecordedAndIgnored() {
        var driver = Driver()
        driver.run { _ in .succeed }
        let state = driver.machine.state
        let late = driver.machine.replyReceived(StepReply(step: "payment", phase: .command, attempt: 1, outcome: .failed(reason: "late")), at: driver.now)
        #expect(late.actions.isEmpty)
        #expect(late.history.first?.event == .replyIgnored)
        #expect(driver.machine.state == state)
    }

    @Test func deadlineThatHasNotPassedOrMovedOnDoesNothing() {
        var machine = SagaStateMachine(definition: Self.definition, state: SagaState(definition: Self.definition, jitterSeed: 1))
        let start = SagaTime(millisecondsSince1970: 0)
        _ = machine.start(at: start)
        let early = machine.deadlinePassed(at: start.adding(milliseconds: 999), dispatch: .confirmed(at: start))
        #expect(early == SagaTransition())
        _ = machine.replyReceived(StepReply(step: "reserve-inventory", phase: .command, attempt: 1, outcome: .succeeded), at: start.adding(milliseconds: 500))
        // The old deadline's time passes, but the saga now waits for the next step's.
        let stale = machine.deadlinePassed(at: start.adding(milliseconds: 1000), dispatch: .confirmed(at: start))
        #expect(stale == SagaTransition())
        #expect(machine.state.deadline?.step == "validate-coupon")
    }

    /// A time is stored as a number of milliseconds; states saved with the older object form still read.
    @Test func timesAreStoredAsNumbersAndTheOlderFormStillReads() throws {
        let time = SagaTime(millisecondsSince1970: 1_764_000_000_123)
        #expect(String(decoding: try JSONEncoder().encode(time), as: UTF8.self) == "1764000000123")
        #expect(try JSONDecoder().decode(SagaTime.self, from: Data("1764000000123".utf8)) == time)
        #expect(try JSONDecoder().decode(SagaTime.self, from: Data(#"{"millisecondsSince1970":1764000000123}"#.utf8)) == time)
        #expect(throws: (any Error).self) { try JSONDecoder().decode(SagaTime.self, from: Data(#""soon""#.utf8)) }
    }

    @Test func stateSurvivesAJSONRoundTrip() throws {
        var driver = Driver()
        driver.run { message in message.step == "payment" && message.phase == .command ? .fail : .succeed }
        let data = try JSONEncoderLike.encode(driver.machine.state)
        #expect(try JSONEncoderLike.decode(data) == driver.machine.state)
    }
}

import Foundation
enum JSONEncoderLike {
    static func encode(_ state: SagaState) throws -> Data { try JSONEncoder().encode(state) }
    static func decode(_ data: Data) throws -> SagaState { try JSONDecoder().decode(SagaState.self, from: data) }
}

import AMQP
import Foundation
import Logging
import Messaging
import SagaCore
import Tracing

/// Runs an order's sagas (create_order, and cancel_order for a confirmed order). Every input (checkout, reply, deadline) is one store transaction: the
/// saga loaded and locked, fed to the pure state machine, its actions run by ``SagaRunner``, and the
/// new state, history, deadline and messages (outbox) written together. A crash at any point leaves
/// either all of it or none of it.
struct SagaEngine: Sendable {
    let store: any SagaStore
    /// create_order's, which a checkout starts.
    let definition: SagaDefinition
    /// cancel_order's, which cancelling a confirmed order starts.
    let cancelDefinition: SagaDefinition
    /// Called after a transaction that wrote these messages to the outbox committed: hands them
    /// to the relay (``OutboxRelay/committed(_:)``), which publishes them from memory.
    let outboxWritten: @Sendable ([OutboxMessage]) -> Void
    let metrics: OrderServiceMetrics
    let logger: Logger
    /// How long after it was confirmed an order may be cancelled (`api.cancelWindow`).
    var cancelWindow: Duration = OrderSagaSettings.cancelWindow.defaultValue

    /// A checkout that passed validation.
    public struct Checkout: Sendable, Equatable {
        public var customerId: String
        public var cartId: String
        public var items: [CreateOrderData.Item]
        public var couponCode: String?
        public var paymentCardId: String
        public var shippingAddress: CreateOrderData.Address
    }

    public struct Accepted: Sendable, Equatable {
        public var orderID: UUID
        public var sagaID: UUID
        /// The order's number, for people.
        public var orderNumber: Int
        /// True when an earlier request with the same Idempotency-Key created it.
        public var replayed: Bool
    }

    // MARK: Inputs

    /// Creates the order and its saga and sends the first command, in one transaction.
    /// `request` is the checkout's canonical JSON: a key reused with other text is refused
    /// (``IdempotencyConflict``).
    func start(_ checkout: Checkout, owner: String, idempotencyKey: String?, request: String) async throws -> Accepted {
        let new = NewOrder(orderID: UUID(), sagaID: UUID(), checkout: checkout, owner: owner)
        // Under the request's span: the saga's trace is the request's, and this span is the
        // parent of every step's span.
        let span = startSpan("start \(definition.name)", ofKind: .internal)
        defer { span.end() }
        if span.isRecording {
            span.attributes["saga.id"] = new.sagaID.uuidString.lowercased()
            span.attributes["saga.type"] = definition.name
        }
        let traceparent = MessageTracing.traceparent(of: span.context) ?? SagaMessages.newTraceparent()
        let outcome = try await store.start(new, idempotencyKey: idempotencyKey, request: request) { [definition] now, number in
            let data = CreateOrderData(
                orderId: new.orderID, orderNumber: number, owner: new.owner, customerId: checkout.customerId, cartId: checkout.cartId, couponCode: checkout.couponCode,
                paymentCardId: checkout.paymentCardId, shippingAddress: checkout.shippingAddress, items: checkout.items)
            var machine = SagaStateMachine(
                definition: definition, state: SagaState(definition: definition, jitterSeed: UInt64.random(in: 0...UInt64.max)))
            let transition = machine.start(skipping: CreateOrderSaga.skippedSteps(data), at: now)
            var saga = LoadedSaga(
                id: new.sagaID, machine: machine, data: data, traceparent: traceparent, version: 0, now: now,
                startedAt: now)
            let write = try SagaRunner.run(transition, on: &saga)
            return (saga, write)
        }
        switch outcome {
        case .created(let number, let messages):
            CrashPoint.sagaAfterCommit.reach()
            metrics.checkoutsAccepted.increment()
            metrics.sagaStarted(type: definition.name)
            outboxWritten(messages)
            return Accepted(orderID: new.orderID, sagaID: new.sagaID, orderNumber: number, replayed: false)
        case .replayed(let orderID, let sagaID, let number):
            if span.isRecording {
                span.attributes["saga.id"] = sagaID.uuidString.lowercased()
                span.attributes["checkout.replayed"] = true
            }
            metrics.checkoutsReplayed.increment()
            return Accepted(orderID: orderID, sagaID: sagaID, orderNumber: number, replayed: true)
        case .conflict:
            throw IdempotencyConflict()
        }
    }

    /// Starts the cancel_order saga of a CONFIRMED order, in one transaction with the order's
    /// create_order saga locked: its data is a copy of that saga's, naming it, so each step undoes
    /// what it did. Nothing is started when the order is not `owner`'s (`nil`: anyone's), is not
    /// CONFIRMED by a COMPLETED saga, was confirmed longer than ``cancelWindow`` ago, or already has one.
    func cancel(order orderID: UUID, owner: String?, reason: String) async throws -> CancelOutcome {
        let sagaID = UUID()
        let span = startSpan("start \(cancelDefinition.name)", ofKind: .internal)
        defer { span.end() }
        if span.isRecording {
            span.attributes["saga.id"] = sagaID.uuidString.lowercased()
            span.attributes["saga.type"] = cancelDefinition.name
        }
        let traceparent = MessageTracing.traceparent(of: span.context) ?? SagaMessages.newTraceparent()
        let outcome = try await store.startCancel(orderID, owner: owner, window: cancelWindow) { [cancelDefinition] original in
            var data = original.data
            data.cancels = original.id
            data.cancelReason = reason
            var machine = SagaStateMachine(
                definition: cancelDefinition, state: SagaState(definition: cancelDefinition, jitterSeed: UInt64.random(in: 0...UInt64.max)))
            let transition = machine.start(at: original.now)
            var saga = LoadedSaga(
                id: sagaID, machine: machine, data: data, traceparent: traceparent, version: 0, now: original.now, startedAt: original.now)
            let write = try SagaRunner.run(transition, on: &saga)
            return (saga, write)
        }
        if case .started(_, let messages) = outcome {
            CrashPoint.sagaAfterCommit.reach()
            metrics.sagaStarted(type: cancelDefinition.name)
            outboxWritten(messages)
        }
        return outcome
    }

    /// Participants' replies, each recorded in the inbox and fed to the saga it belongs to, all in
    /// one transaction (group commit; the consumer hands over the replies that were waiting).
    func handleReplies(_ deliveries: [AMQPDelivery]) async throws {
        try await handle(try deliveries.map(IncomingReply.init))
    }

    /// Throws ``MalformedMessage`` for a reply to an unknown saga after the others committed: the
    /// consumer then handles each alone, the others as duplicates, and dead-letters that one.
    func handle(_ replies: [IncomingReply]) async throws {
        // Locked in saga id order, so two transactions never wait for each other in a cycle.
        let replies = replies.sorted { $0.sagaID.uuidString < $1.sagaID.uuidString }
        let started = ContinuousClock.now
        // One span per reply, child of the worker's; the commands it causes carry it on.
        let spans = replies.map(SagaTracing.handling)
        defer { for span in spans { span.end() } }
        let traceparents = spans.map { MessageTracing.traceparent(of: $0.context) }
        let outcomes: [UpdateOutcome]
        do {
            outcomes = try await store.update(zip(replies, traceparents).map { reply, traceparent in
                SagaUpdate(sagaID: reply.sagaID, messageID: reply.messageID, messageType: reply.type) { saga in
                    let transition = saga.machine.replyReceived(
                        StepReply(step: reply.step, phase: reply.phase, attempt: reply.attempt, outcome: reply.outcome), at: saga.now)
                    return try SagaRunner.run(transition, on: &saga, reply: reply.body, traceparent: traceparent)
                }
            })
        } catch {
            for span in spans { span.recordError(error) }
            throw error
        }
        var unknown: [UUID] = []
        var written: [OutboxMessage] = []
        for (reply, (outcome, span)) in zip(replies, zip(outcomes, spans)) {
            switch outcome {
            case .unknownSaga:
                span.recordError(MalformedMessage("reply for unknown saga"))
                unknown.append(reply.sagaID)
            case .duplicate:
                if span.isRecording { span.attributes["saga.duplicate"] = true }
                metrics.repliesDuplicate.increment()  // a copy of a reply already handled
            case .applied(let write):
                Self.committed(write)
                written += write.messages
                metrics.repliesHandled.increment()
                metrics.replyHandling.record(ContinuousClock.now - started)
                finished(reply.sagaID, write)
            }
        }
        outboxWritten(written)
        if let first = unknown.first { throw MalformedMessage("reply for unknown saga \(first)") }
    }

    /// An operator's input, in one transaction: refused (``OperatorRefusal``) when the saga's
    /// state does not allow it, and not run at all (``SagaChanged``) when `expectedVersion` is
    /// given and the saga moved on since. Returns what was written.
    func operate(_ id: UUID, _ action: OperatorAction, note: OperatorNote, expectedVersion: Int?) async throws -> SagaWrite {
        let outcome = try await store.operate(id, expectedVersion: expectedVersion) { saga in
            let transition: SagaTransition
            var reply: [UInt8]?
            switch action {
            case .retry:
                transition = try saga.machine.retry(by: note, at: saga.now)
            case .skip(let step, let result):
                transition = try saga.machine.skip(step: step, by: note, at: saga.now)
                // The supplied data as the reply the participant would have sent.
                reply = Array(#"{"outcome":"succeeded","data":\#(result ?? "null")}"#.utf8)
            case .compensate:
                transition = try saga.machine.compensate(by: note, at: saga.now)
            case .abort:
                transition = try saga.machine.abort(by: note, at: saga.now)
            }
            do {
                return try SagaRunner.run(transition, on: &saga, reply: reply)
            } catch let error as MalformedMessage {
                guard case .skip(let step, _) = action else { throw error }
                throw InvalidSkipResult(step: step, problem: error.description)
            }
        }
        switch outcome {
        case .unknownSaga:
            throw SagaNotFound()
        case .changed(let current):
            throw SagaChanged(expected: expectedVersion ?? current, current: current)
        case .applied(let write):
            Self.committed(write)
            outboxWritten(write.messages)
            logger.notice("operator \(action.name) on saga", metadata: [
                "saga_id": "\(id.uuidString.lowercased())", "operator": "\(note.actor)", "reason": "\(note.reason ?? "")",
                "status": "\(write.state.status.rawValue)",
            ])
            finished(id, write)
            return write
        }
    }

    /// Feeds every saga whose deadline passed (by the store's clock); returns how many were due.
    func sweepDeadlines(limit: Int) async throws -> Int {
        let due = try await store.dueSagas(limit: limit)
        for id in due {
            let write = try await store.updateIfDue(id) { saga, dispatch in
                try SagaRunner.run(saga.machine.deadlinePassed(at: saga.now, dispatch: dispatch), on: &saga)
            }
            guard let write else { continue }  // taken by another instance, or no longer due
            Self.committed(write)
            outboxWritten(write.messages)
            finished(id, write)
        }
        return due.count
    }

    /// Right after a saga input committed, before the relay is woken: where a crash point may end the process.
    private static func committed(_ write: SagaWrite) {
        CrashPoint.sagaAfterCommit.reach()
        if write.state.status == .compensating { CrashPoint.sagaMidCompensation.reach() }
    }

    /// After an input's commit: time the steps it ended (a metric and a span each), count the
    /// saga if it ended, and tell the operator about a parked one.
    private func finished(_ id: UUID, _ write: SagaWrite) {
        for end in write.ended {
            metrics.stepEnded(end, type: write.type)
            SagaTracing.record(end, sagaID: id, traceparent: write.traceparent)
        }
        guard let status = write.finished else { return }
        metrics.sagaFinished(status, type: write.type, after: write.ranFor)
        if status == .failed {
            logger.error("saga parked as FAILED: a compensation or a step after the pivot exhausted its retries; an operator must act", metadata: [
                "saga_id": "\(id.uuidString.lowercased())",
            ])
        }
    }
}

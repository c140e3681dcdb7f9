import CheckoutContracts
import Foundation
import Messaging
import SagaCore

/// Runs a transition's actions on a loaded saga, in order, in one exhaustive switch, and says what
/// to store: it merges a reply's data, builds the commands it sends and the events it emits, moves
/// the deadline and sets the order's final status. No I/O: the store writes the result.
enum SagaRunner {
    /// - Parameters:
    ///   - reply: the body of the reply that caused the transition, for ``SagaAction/acceptResult(step:command:)``.
    ///   - traceparent: the trace context the messages it sends carry (the span that handled the
    ///     input); by default the saga's own.
    static func run(_ transition: SagaTransition, on saga: inout LoadedSaga, reply: [UInt8]? = nil, traceparent: String? = nil) throws -> SagaWrite {
        let traceparent = traceparent ?? saga.traceparent
        var write = SagaWrite(
            state: saga.machine.state, data: saga.data, deadline: nil, history: transition.history, messages: [],
            orderStatus: nil, finished: nil, ranFor: nil, ended: transition.ended, traceparent: saga.traceparent,
            type: saga.machine.definition.name)
        // The payment's outcome, for the order's events: a refusal is a step that failed.
        if !saga.cancelsOrder {
            for entry in transition.history where entry.event == .stepFailed && isPayment(entry.step, saga) {
                var event = orderEvent(saga)
                event.reason = entry.detail
                try record(OrderEvents.paymentRefused, event, id: "\(saga.idText):\(OrderEvents.paymentRefused)", saga: saga, into: &write, traceparent)
            }
        }
        for action in transition.actions {
            switch action {
            case .acceptResult(let step, let command):
                guard let reply else { preconditionFailure("acceptResult without a reply") }
                try CreateOrderSaga.merge(reply: reply, command: command, into: &saga.data)
                if !saga.cancelsOrder && isPayment(step, saga) {
                    var event = orderEvent(saga)
                    event.chargeId = saga.data.chargeId
                    event.totalCents = saga.data.totalCents
                    try record(OrderEvents.paymentCaptured, event, id: "\(saga.idText):\(OrderEvents.paymentCaptured)", saga: saga, into: &write, traceparent)
                }
            case .send(let message):
                let payload = try CreateOrderSaga.payload(for: message, data: saga.data)
                write.messages.append(SagaMessages.command(sagaID: saga.idText, message: message, payload: payload, traceparent: traceparent))
            case .scheduleDeadline(let next):
                write.deadline = .some(next.at)
            case .cancelDeadline:
                write.deadline = .some(nil)
            case .emit(let event):
                // A cancel_order saga tells the world only that the order is cancelled, when it is (below).
                guard !saga.cancelsOrder else { continue }
                try emit(event, saga: saga, into: &write, traceparent)
            case .finish(let status, let committed):
                write.finished = status
                write.ranFor = .milliseconds(max(0, saga.now.millisecondsSince1970 - saga.startedAt.millisecondsSince1970))
                if saga.cancelsOrder {
                    write.orderStatus = cancelledOrderStatus(status)
                    if status == .completed { try emit(.cancelled(reason: saga.data.cancelReason), saga: saga, into: &write, traceparent) }
                } else {
                    write.orderStatus = orderStatus(status, committed: committed)
                    if write.orderStatus == "FAILED" {
                        var event = settled(saga)
                        event.reason = saga.machine.state.failureReason
                        // Parked, retried by an operator, parked again: each time is news.
                        try record(OrderEvents.failed, event, id: "\(saga.idText):\(OrderEvents.failed):\(saga.version)", saga: saga, into: &write, traceparent)
                    }
                }
            }
        }
        write.data = saga.data
        return write
    }

    /// The order's status when its saga ends. `committed`: what the saga did stands, so the order is
    /// confirmed even when the saga was parked after its pivot (a confirmation that never went out).
    static func orderStatus(_ status: SagaStatus, committed: Bool) -> String {
        switch status {
        case .completed: "CONFIRMED"
        case .compensated: "CANCELLED"
        case .failed: committed ? "CONFIRMED" : "FAILED"
        case .running, .compensating: preconditionFailure("\(status) is not final")
        }
    }

    /// The order's status when its cancel_order saga ends: CANCELLED once every step is done;
    /// otherwise (parked for an operator) it stays CONFIRMED.
    static func cancelledOrderStatus(_ status: SagaStatus) -> String? {
        status == .completed ? "CANCELLED" : nil
    }

    /// A saga event as the order event on `ordersaga.events` that it means.
    static func emit(_ event: SagaEvent, saga: LoadedSaga, into write: inout SagaWrite, _ traceparent: String) throws {
        switch event {
        case .started:
            var body = orderEvent(saga)
            body.owner = saga.data.owner
            body.cartId = saga.data.cartId
            body.couponCode = saga.data.couponCode
            body.paymentCardId = saga.data.paymentCardId
            body.shippingAddress = saga.data.shippingAddress
            body.items = saga.data.items
            try record(OrderEvents.created, body, id: "\(saga.idText):\(OrderEvents.created)", saga: saga, into: &write, traceparent)
        case .committed:
            try record(OrderEvents.confirmed, settled(saga), id: "\(saga.idText):\(OrderEvents.confirmed)", saga: saga, into: &write, traceparent)
        case .cancelled(let reason):
            var body = settled(saga)
            body.reason = reason
            try record(OrderEvents.cancelled, body, id: "\(saga.idText):\(OrderEvents.cancelled)", saga: saga, into: &write, traceparent)
        }
    }

    /// Whether `step` of the saga's definition is the payment.
    private static func isPayment(_ step: String?, _ saga: LoadedSaga) -> Bool {
        step.flatMap { saga.machine.definition.step(named: $0)?.command } == IdentityContract.chargePayment
    }

    /// The fields every order event has.
    private static func orderEvent(_ saga: LoadedSaga) -> OrderEvent {
        var event = OrderEvent(orderId: saga.data.orderIdText, sagaId: saga.idText, customerId: saga.data.customerId)
        event.orderNumber = saga.data.orderNumber
        event.at = saga.now.iso
        return event
    }

    /// An event that settles the order: its lines with the catalog's prices, and its totals.
    private static func settled(_ saga: LoadedSaga) -> OrderEvent {
        var event = orderEvent(saga)
        event.items = saga.data.items
        event.subtotalCents = saga.data.subtotalCents
        event.discountCents = saga.data.discountCents
        event.totalCents = saga.data.totalCents
        return event
    }

    /// Adds the event to what the input writes: to the outbox (`ordersaga.events`) and to the order's log.
    private static func record(
        _ type: String, _ event: OrderEvent, id: String, saga: LoadedSaga, into write: inout SagaWrite, _ traceparent: String
    ) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = String(decoding: try encoder.encode(event), as: UTF8.self)
        write.messages.append(OutboxMessage(
            messageID: id, exchange: SagaTopology.eventsExchange, routingKey: type, type: type,
            correlationID: saga.idText, mandatory: false, headers: ["traceparent": .string(traceparent)], body: body))
        write.orderEvents.append(RecordedOrderEvent(type: type, event: event, body: body))
    }
}

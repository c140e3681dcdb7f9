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
        for action in transition.actions {
            switch action {
            case .acceptResult(_, let command):
                guard let reply else { preconditionFailure("acceptResult without a reply") }
                try CreateOrderSaga.merge(reply: reply, command: command, into: &saga.data)
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
                write.messages.append(try self.event(event, saga: saga, traceparent: traceparent))
            case .finish(let status, let committed):
                write.finished = status
                write.ranFor = .milliseconds(max(0, saga.now.millisecondsSince1970 - saga.startedAt.millisecondsSince1970))
                if saga.cancelsOrder {
                    write.orderStatus = cancelledOrderStatus(status)
                    if status == .completed { write.messages.append(try event(.cancelled(reason: saga.data.cancelReason), saga: saga, traceparent: traceparent)) }
                } else {
                    write.orderStatus = orderStatus(status, committed: committed)
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
    static func event(_ event: SagaEvent, saga: LoadedSaga, traceparent: String) throws -> OutboxMessage {
        var body = OrderEvent(orderId: saga.data.orderIdText, sagaId: saga.idText, customerId: saga.data.customerId)
        body.orderNumber = saga.data.orderNumber
        let name: String
        switch event {
        case .started:
            name = OrderEvents.created
        case .committed:
            name = OrderEvents.confirmed
            body.totalCents = saga.data.totalCents
        case .cancelled(let reason):
            name = OrderEvents.cancelled
            body.reason = reason
            body.totalCents = saga.data.totalCents
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return OutboxMessage(
            messageID: "\(saga.idText):\(name)", exchange: SagaTopology.eventsExchange, routingKey: name, type: name,
            correlationID: saga.idText, mandatory: false, headers: ["traceparent": .string(traceparent)],
            body: String(decoding: try encoder.encode(body), as: UTF8.self))
    }
}

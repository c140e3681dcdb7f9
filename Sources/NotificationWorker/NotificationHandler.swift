import AMQP
import Foundation
import CheckoutContracts
import Messaging
import Postgres

/// Records an order confirmation (the saga's last step, retried and never undone), the notice
/// that a confirmed order was cancelled and refunded (cancel_order's last step) and, on the
/// `order.cancelled` event, a cancellation notice. One of each kind per saga, at most one
/// cancellation notice per order, and never a confirmation for a saga whose cancellation was recorded.
public struct NotificationHandler: CommandHandler {
    public init() {}

    public var commandTypes: Set<String> { NotificationContract.commands }

    /// The kinds that tell a customer their order was cancelled: one per order.
    static let cancellationKinds = ["ORDER_CANCELLED", "ORDER_REFUNDED"]

    public func handle(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        if command.type == NotificationContract.sendCancellation {
            let request = try command.payload(NotificationContract.SendCancellation.self)
            let id = try record(
                kind: "ORDER_REFUNDED", sagaID: command.sagaID, orderID: request.orderId, customerID: request.customerId,
                values: ["order": request.orderId, "total": Self.money(request.totalCents), "reason": request.reason], in: transaction)
            return .succeeded(NotificationContract.Sent(notificationId: id))
        }
        let request = try command.payload(NotificationContract.SendConfirmation.self)
        // A confirmation that comes after the order was cancelled (a stale command) tells the
        // customer nothing: the cancellation notice stands alone.
        if try !transaction.query(
            "SELECT 1 FROM notifications WHERE saga_id = $1 AND kind = 'ORDER_CANCELLED'", [command.sagaID]).isEmpty {
            return .refused(reason: "cancelled", detail: "order \(request.orderId) was cancelled; no confirmation is sent")
        }
        let id = try record(
            kind: "ORDER_CONFIRMED", sagaID: command.sagaID, orderID: request.orderId, customerID: request.customerId,
            values: ["order": request.orderId, "total": Self.money(request.totalCents)], in: transaction)
        return .succeeded(NotificationContract.Sent(notificationId: id))
    }

    public func handleEvent(_ delivery: AMQPDelivery, in transaction: PostgresConnection) throws {
        guard delivery.properties.type == OrderEvents.cancelled else { return }
        let event: OrderEvent
        do {
            event = try JSONDecoder().decode(OrderEvent.self, from: Data(delivery.body))
        } catch {
            throw MalformedMessage("order.cancelled is not valid: \(error)")
        }
        // A confirmed order that was cancelled has had its notice (ORDER_REFUNDED) from the
        // cancel_order saga, which emits this event only after it.
        if try !transaction.query(
            "SELECT 1 FROM notifications WHERE order_id = $1 AND kind = ANY($2::text[])", [event.orderId, Self.cancellationKinds]).isEmpty {
            return
        }
        _ = try record(
            kind: "ORDER_CANCELLED", sagaID: event.sagaId, orderID: event.orderId, customerID: event.customerId,
            values: ["order": event.orderId, "reason": event.reason ?? "cancelled"], in: transaction)
    }

    /// `12.34`.
    static func money(_ cents: Int) -> String { String(format: "%d.%02d", cents / 100, cents % 100) }

    /// Renders the kind's template and stores the notification once; returns its id.
    private func record(kind: String, sagaID: String, orderID: String, customerID: String, values: [String: String], in transaction: PostgresConnection) throws -> Int {
        guard let template = try transaction.query("SELECT subject, body FROM templates WHERE kind = $1", [kind]).first else {
            throw MalformedMessage("no template \(kind)")
        }
        var body = try template.string("body")
        for (key, value) in values { body = body.replacingOccurrences(of: "{\(key)}", with: value) }
        try transaction.query(
            """
            INSERT INTO notifications (saga_id, order_id, customer_id, kind, subject, body)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (saga_id, kind) DO NOTHING
            """, [sagaID, orderID, customerID, kind, try template.string("subject"), body])
        return try transaction.query("SELECT id FROM notifications WHERE saga_id = $1 AND kind = $2", [sagaID, kind]).first!.int("id")
    }
}

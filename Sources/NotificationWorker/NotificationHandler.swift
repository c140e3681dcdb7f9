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
    /// Where each notification goes once recorded (`nil`: it is only recorded).
    let delivery: (any NotificationDelivery)?
    /// Templates parsed, by their text: parsed once, and again only when edited.
    private let parsed = ParsedTemplates()

    public init(delivery: (any NotificationDelivery)? = nil) {
        self.delivery = delivery
    }

    public var commandTypes: Set<String> { NotificationContract.commands }

    /// The kinds that tell a customer their order was cancelled: one per order.
    static let cancellationKinds = ["ORDER_CANCELLED", "ORDER_REFUNDED"]

    public func handle(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        if command.type == NotificationContract.sendCancellation {
            let request = try command.payload(NotificationContract.SendCancellation.self)
            let id = try record(
                kind: "ORDER_REFUNDED", sagaID: command.sagaID, orderID: request.orderId, customerID: request.customerId,
                values: Self.values(orderID: request.orderId, number: request.orderNumber, customerID: request.customerId,
                                    totalCents: request.totalCents, reason: request.reason),
                in: transaction)
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
            values: Self.values(orderID: request.orderId, number: request.orderNumber, customerID: request.customerId, totalCents: request.totalCents),
            in: transaction)
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
            values: Self.values(orderID: event.orderId, number: event.orderNumber, customerID: event.customerId, totalCents: event.totalCents,
                                reason: event.reason ?? "cancelled"),
            in: transaction)
    }

    /// What a template may name (``NotificationTemplate``).
    static func values(orderID: String, number: Int?, customerID: String, totalCents: Int?, reason: String? = nil) -> [String: String] {
        var values = ["order": number.map(String.init) ?? orderID, "orderId": orderID, "customerId": customerID]
        values["orderNumber"] = number.map(String.init)
        values["total"] = totalCents.map(money)
        values["reason"] = reason
        return values
    }

    /// `12.34`.
    static func money(_ cents: Int) -> String { String(format: "%d.%02d", cents / 100, cents % 100) }

    /// Renders the kind's template and records the notification once (one of each kind per saga);
    /// the first time, delivers it too, in the same transaction. Returns its id.
    private func record(kind: String, sagaID: String, orderID: String, customerID: String, values: [String: String], in transaction: PostgresConnection) throws -> Int {
        guard let row = try transaction.query("SELECT subject, body FROM templates WHERE kind = $1", [kind]).first else {
            throw MalformedMessage("no template \(kind)")
        }
        let (subjectText, bodyText) = (try row.string("subject"), try row.string("body"))
        let template: NotificationTemplate
        do {
            template = try parsed.template(kind: kind, subject: subjectText, body: bodyText)
        } catch {
            throw MalformedMessage(error.description)  // dead-lettered; replayed once the template is mended
        }
        let (subject, body) = template.render(values)
        let inserted = try transaction.query(
            """
            INSERT INTO notifications (saga_id, order_id, customer_id, kind, subject, body)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (saga_id, kind) DO NOTHING
            RETURNING id, extract(epoch FROM created_at)::float8 AS at
            """, [sagaID, orderID, customerID, kind, subject, body]).first
        guard let inserted else {
            return try transaction.query("SELECT id FROM notifications WHERE saga_id = $1 AND kind = $2", [sagaID, kind]).first!.int("id")
        }
        try delivery?.deliver(RenderedNotification(
            id: "\(sagaID)-\(kind.lowercased())", kind: kind, customerID: customerID, orderID: orderID, subject: subject, body: body,
            date: Date(timeIntervalSince1970: try inserted.double("at"))))
        return try inserted.int("id")
    }
}

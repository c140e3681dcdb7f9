import CheckoutContracts
import Messaging
import Postgres

/// Charges a customer's card (the payment step) and refunds it. Refuses an unknown or removed card,
/// a card of another customer, a deactivated customer, an expired card and an amount over the
/// card's limit. One charge per saga.
public struct IdentityHandler: CommandHandler {
    public init() {}

    public var commandTypes: Set<String> { IdentityContract.commands }

    static let record = SagaEffectRecord(table: "charges", done: "CAPTURED", undone: "REFUNDED")

    public func handle(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        try Self.record.handle(
            command, compensating: command.type == IdentityContract.refundPayment, in: transaction,
            perform: { try charge(command, in: transaction) },
            again: {
                let amount = try transaction.query("SELECT amount_cents FROM charges WHERE saga_id = $1", [command.sagaID]).first!.int("amount_cents")
                return IdentityContract.Charged(chargeId: command.sagaID, amountCents: amount)
            },
            undo: { _ in })  // the refund is the status change itself
    }

    private func charge(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        let request = try command.payload(IdentityContract.ChargePayment.self)
        guard request.amountCents >= 0 else { throw MalformedMessage("charge_payment with a negative amount") }
        // A removed card is kept for its charges, and refused from then on.
        guard let card = try transaction.query(
            """
            SELECT c.customer_id, c.expires_on < current_date AS expired, c.limit_cents, u.active
            FROM payment_cards c JOIN customers u ON u.id = c.customer_id WHERE c.id = $1 AND c.removed_at IS NULL
            """,
            [request.cardId]).first,
            try card.string("customer_id") == request.customerId
        else {
            return .refused(reason: "card_unknown", detail: "customer \(request.customerId) has no card \(request.cardId)")
        }
        if try !card.bool("active") {
            return .refused(reason: "customer_inactive", detail: "customer \(request.customerId) was deactivated")
        }
        if try card.bool("expired") {
            return .refused(reason: "card_expired", detail: "card \(request.cardId) has expired")
        }
        if try request.amountCents > card.int("limit_cents") {
            return .refused(reason: "card_declined", detail: "\(request.amountCents) cents is over the card's limit")
        }
        try transaction.send(
            "INSERT INTO charges (saga_id, card_id, amount_cents, status) VALUES ($1, $2, $3, 'CAPTURED')",
            [command.sagaID, request.cardId, request.amountCents])
        return .succeeded(IdentityContract.Charged(chargeId: command.sagaID, amountCents: request.amountCents))
    }
}

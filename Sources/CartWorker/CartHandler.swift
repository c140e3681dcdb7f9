import CheckoutContracts
import Messaging
import Postgres

/// Converts a customer's ACTIVE cart into an order and restores it, by appending events to the
/// cart's log. Refuses an unknown cart, a cart of another customer and a cart that is not active.
public struct CartHandler: CommandHandler {
    public init() {}

    public var commandTypes: Set<String> { CartContract.commands }

    static let record = SagaEffectRecord(table: "cart_conversions", done: "CONVERTED", undone: "RESTORED")
    static let carts = SharedRows(table: "cart_events", key: "cart_id", order: "cart_id, seq", recordedIn: "cart_conversions", column: "cart_id")

    public func handle(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        func convertedCart(by sagaID: String) throws -> String {
            try transaction.query("SELECT cart_id FROM cart_conversions WHERE saga_id = $1", [sagaID]).first!.string("cart_id")
        }
        return try Self.record.handle(
            command, compensating: command.type == CartContract.restoreCart, in: transaction,
            perform: { try convert(command, in: transaction) },
            again: { CartContract.Converted(cartId: try convertedCart(by: command.sagaID)) },
            undo: { sagaID in
                // Restored only while that saga's conversion is the cart's latest event.
                if let cart = try load(try convertedCart(by: sagaID), in: transaction), cart.status == .converted, cart.convertedBy == sagaID {
                    try append(Cart.EventType.restored, to: cart, sagaID: sagaID, in: transaction)
                }
            })
    }

    /// The events of every cart a batch converts or restores, locked in cart and sequence order.
    public func lockShared(by commands: [IncomingCommand], in transaction: PostgresConnection) throws {
        try Self.carts.lock(
            try commands.filter { $0.type == CartContract.convertCart }.map { try $0.payload(CartContract.ConvertCart.self).cartId },
            recordedBy: try commands.filter { $0.type == CartContract.restoreCart }.map(SagaEffectRecord.effectSagaID), in: transaction)
    }

    private func convert(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        let request = try command.payload(CartContract.ConvertCart.self)
        guard let cart = try load(request.cartId, in: transaction) else {
            return .refused(reason: "cart_unknown", detail: "no cart \(request.cartId)")
        }
        guard cart.customerID == request.customerId else {
            return .refused(reason: "cart_not_owned", detail: "cart \(request.cartId) belongs to another customer")
        }
        guard cart.status == .active else {
            return .refused(reason: "cart_not_active", detail: "cart \(request.cartId) is \(cart.status.rawValue)")
        }
        try append(Cart.EventType.converted, to: cart, sagaID: command.sagaID, in: transaction)
        try transaction.send(
            "INSERT INTO cart_conversions (saga_id, cart_id, status) VALUES ($1, $2, 'CONVERTED')", [command.sagaID, request.cartId])
        return .succeeded(CartContract.Converted(cartId: request.cartId))
    }

    /// The cart rebuilt from its events, which stay locked until the transaction ends.
    private func load(_ cartID: String, in transaction: PostgresConnection) throws -> Cart? {
        let events = try transaction.query(
            "SELECT seq, type, customer_id, saga_id FROM cart_events WHERE cart_id = $1 ORDER BY seq FOR UPDATE", [cartID]
        ).map { row in
            Cart.Event(seq: try row.int("seq"), type: try row.string("type"), customerID: try row.string("customer_id"), sagaID: try row.optionalString("saga_id"))
        }
        return Cart(id: cartID, events: events)
    }

    /// Appends at `version + 1`: a concurrent writer of the same seq fails on the primary key (at
    /// the transaction's next statement or COMMIT, which the insert travels with).
    private func append(_ type: String, to cart: Cart, sagaID: String, in transaction: PostgresConnection) throws {
        try transaction.send(
            "INSERT INTO cart_events (cart_id, seq, type, customer_id, saga_id) VALUES ($1, $2, $3, $4, $5)",
            [cart.id, cart.version + 1, type, cart.customerID, sagaID])
    }
}

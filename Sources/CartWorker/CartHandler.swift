import Messaging
import Postgres

/// Converts a customer's ACTIVE cart into an order and restores it, by appending events to the
/// cart's log. Refuses an unknown cart, a cart of another customer and a cart that is not active.
public struct CartHandler: CommandHandler {
    public static let convert = "cart.convert_cart"
    public static let restore = "cart.restore_cart"

    public init() {}

    public var commandTypes: Set<String> { [Self.convert, Self.restore] }

    public struct ConvertCart: Codable, Sendable {
        public var orderId: String
        public var customerId: String
        public var cartId: String
    }

    public struct Converted: Codable, Sendable, Equatable {
        public var cartId: String
    }

    public func handle(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        let existing = try transaction.query(
            "SELECT status, cart_id FROM cart_conversions WHERE saga_id = $1 FOR UPDATE", [command.sagaID]).first
        let status = try existing?.string("status")
        switch command.type {
        case Self.convert:
            switch status {
            case "CONVERTED": return .succeeded(Converted(cartId: try existing!.string("cart_id")))
            case "RESTORED": return .refused(reason: "compensated", detail: "the cart conversion was already undone")
            default: return try convert(command, in: transaction)
            }
        default:
            switch status {
            case "CONVERTED":
                let cartID = try existing!.string("cart_id")
                let cart = try load(cartID, in: transaction)
                if let cart, cart.status == .converted, cart.convertedBy == command.sagaID {
                    try append("CART_RESTORED", to: cart, sagaID: command.sagaID, in: transaction)
                }
                try transaction.query("UPDATE cart_conversions SET status = 'RESTORED', updated_at = now() WHERE saga_id = $1", [command.sagaID])
            case "RESTORED":
                break
            default:
                try transaction.query("INSERT INTO cart_conversions (saga_id, status) VALUES ($1, 'RESTORED')", [command.sagaID])
            }
            return .succeeded(Empty())
        }
    }

    private func convert(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        let request = try command.payload(ConvertCart.self)
        guard let cart = try load(request.cartId, in: transaction) else {
            return .refused(reason: "cart_unknown", detail: "no cart \(request.cartId)")
        }
        guard cart.customerID == request.customerId else {
            return .refused(reason: "cart_not_owned", detail: "cart \(request.cartId) belongs to another customer")
        }
        guard cart.status == .active else {
            return .refused(reason: "cart_not_active", detail: "cart \(request.cartId) is \(cart.status.rawValue)")
        }
        try append("CART_CONVERTED", to: cart, sagaID: command.sagaID, in: transaction)
        try transaction.query(
            "INSERT INTO cart_conversions (saga_id, cart_id, status) VALUES ($1, $2, 'CONVERTED')", [command.sagaID, request.cartId])
        return .succeeded(Converted(cartId: request.cartId))
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

    /// Appends at `version + 1`: a concurrent writer of the same seq fails on the primary key.
    private func append(_ type: String, to cart: Cart, sagaID: String, in transaction: PostgresConnection) throws {
        try transaction.query(
            "INSERT INTO cart_events (cart_id, seq, type, customer_id, saga_id) VALUES ($1, $2, $3, $4, $5)",
            [cart.id, cart.version + 1, type, cart.customerID, sagaID])
    }
}

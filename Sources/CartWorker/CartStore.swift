import CheckoutContracts
import Foundation
import Postgres

/// One event of a cart's log.
public struct CartEventView: Codable, Equatable, Sendable {
    public var seq: Int
    public var type: String
    public var productId: String?
    public var quantity: Int?
    public var sagaId: String?
    public var at: String
}

/// Why a cart change was refused; the API names the field.
public enum CartRefusal: Error, Equatable, Sendable {
    case notFound, duplicate, notActive(status: String), noSuchItem
    /// The change would pass a checkout's limits: more lines, or more of one product, than it takes.
    case overLimit(field: String, problem: String)
}

/// All SQL of the cart service's REST API, over its own database. A cart's events are locked in
/// seq order while a change is appended, as the saga's conversion locks them, so the two never
/// interleave and never deadlock.
public struct CartStore: Sendable {
    let pool: PostgresPool

    static let maxLines = CartContract.maxLines
    static let maxQuantity = CartContract.maxQuantity

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    private static let columns = """
        seq, type, customer_id, saga_id, data->>'productId' AS product_id, (data->>'quantity')::int AS quantity,
        data->>'owner' AS owner, \(PostgresSQL.utcTime("at")) AS at_text
        """

    /// The cart's events, oldest first, and who owns it (`nil`: made before carts had owners, or by SQL).
    private static func events(_ id: String, lock: Bool, in connection: PostgresConnection) throws -> (events: [Cart.Event], owner: String?, times: [String])? {
        let rows = try connection.query(
            "SELECT \(columns) FROM cart_events WHERE cart_id = $1 ORDER BY seq\(lock ? " FOR UPDATE" : "")", [id])
        guard let first = rows.first else { return nil }
        let events = try rows.map { row in
            Cart.Event(
                seq: try row.int("seq"), type: try row.string("type"), customerID: try row.string("customer_id"),
                sagaID: try row.optionalString("saga_id"), productID: try row.optionalString("product_id"), quantity: try row.optionalInt("quantity"))
        }
        return (events, try first.optionalString("owner"), try rows.map { try $0.string("at_text") })
    }

    private static func view(_ cart: Cart, times: [String]) -> CartView {
        CartView(
            id: cart.id, customerId: cart.customerID, status: cart.status.rawValue, convertedBy: cart.convertedBy,
            items: cart.items.map { CartView.Item(productId: $0.productID, quantity: $0.quantity) }, version: cart.version,
            createdAt: times.first ?? "", updatedAt: times.last ?? "")
    }

    /// The cart, if `owner` may see it (`nil`: anyone may, an admin); another's is as missing.
    public func cart(_ id: String, owner: String?) async throws -> CartView? {
        try await pool.withConnection { connection in
            guard let (events, cartOwner, times) = try Self.events(id, lock: false, in: connection), owner == nil || cartOwner == owner,
                  let cart = Cart(id: id, events: events)
            else { return nil }
            return Self.view(cart, times: times)
        }
    }

    /// The cart's events, oldest first, if `owner` may see it.
    public func history(_ id: String, owner: String?) async throws -> [CartEventView]? {
        try await pool.withConnection { connection in
            guard let (events, cartOwner, times) = try Self.events(id, lock: false, in: connection), owner == nil || cartOwner == owner else { return nil }
            return zip(events, times).map { event, at in
                CartEventView(seq: event.seq, type: event.type, productId: event.productID, quantity: event.quantity, sagaId: event.sagaID, at: at)
            }
        }
    }

    /// A new, empty cart of `customer`, owned by `owner` (the credential that made it).
    public func create(id: String, customer: String, owner: String) async throws -> CartView {
        do {
            return try await pool.transaction { connection in
                try connection.query(
                    "INSERT INTO cart_events (cart_id, seq, type, customer_id, data) VALUES ($1, 1, 'CART_CREATED', $2, jsonb_build_object('owner', $3::text))",
                    [id, customer, owner])
                let (events, _, times) = try Self.events(id, lock: false, in: connection)!
                return Self.view(Cart(id: id, events: events)!, times: times)
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw CartRefusal.duplicate
        }
    }

    /// Appends an item event (`ITEM_ADDED`, `ITEM_QUANTITY_SET`, `ITEM_REMOVED`) to an active
    /// cart `owner` may change, and answers the cart after it.
    public func change(_ id: String, owner: String?, type: String, product: String, quantity: Int?) async throws -> CartView {
        try await pool.transaction { connection in
            guard let (events, cartOwner, _) = try Self.events(id, lock: true, in: connection), owner == nil || cartOwner == owner,
                  let cart = Cart(id: id, events: events)
            else { throw CartRefusal.notFound }
            guard cart.status == .active else { throw CartRefusal.notActive(status: cart.status.rawValue) }
            if type != Cart.EventType.itemAdded, !cart.items.contains(where: { $0.productID == product }) { throw CartRefusal.noSuchItem }
            let next = Cart.Event(seq: cart.version + 1, type: type, customerID: cart.customerID, sagaID: nil, productID: product, quantity: quantity)
            let items = Cart(id: id, events: events + [next])!.items
            if items.count > Self.maxLines { throw CartRefusal.overLimit(field: "productId", problem: "the cart has \(Self.maxLines) lines, the most a checkout takes") }
            if let line = items.first(where: { $0.productID == product }), line.quantity > Self.maxQuantity {
                throw CartRefusal.overLimit(field: "quantity", problem: "would make \(line.quantity) of \(product); a checkout takes at most \(Self.maxQuantity)")
            }
            let data = quantity.map { #"{"productId":\#(Self.jsonString(product)),"quantity":\#($0)}"# } ?? #"{"productId":\#(Self.jsonString(product))}"#
            try connection.query(
                "INSERT INTO cart_events (cart_id, seq, type, customer_id, data) VALUES ($1, $2, $3, $4, $5::jsonb)",
                [id, cart.version + 1, type, cart.customerID, data])
            let (after, _, times) = try Self.events(id, lock: false, in: connection)!
            return Self.view(Cart(id: id, events: after)!, times: times)
        }
    }

    private static func jsonString(_ text: String) -> String {
        String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
    }
}

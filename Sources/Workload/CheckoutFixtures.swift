import Foundation
import Postgres
import SagaInvariants

/// What generated checkouts need in the six databases, and their bodies: a product with ample
/// stock and one never in stock, a coupon and an expired one, a customer with a card, and one
/// open cart per checkout. Written with each service's own role, as its migrations were, so it
/// works on any deployment whose URLs it is given. `saga-chaos` and `saga-bench` use it.
public struct CheckoutFixtures: Sendable {
    public static let product = "sku-load"
    public static let emptyProduct = "sku-load-empty"
    public static let coupon = "LOAD10"
    public static let expiredCoupon = "LOAD-EXPIRED"
    public static let customer = "cust-load"
    public static let card = "card-load"

    public let databases: SystemDatabases
    /// Carts are `cart-<prefix>-<run>-<index>`.
    public let prefix: String
    public let run: String

    public init(databases: SystemDatabases, prefix: String, run: String) {
        self.databases = databases
        self.prefix = prefix
        self.run = run
    }

    public func cart(_ index: Int) -> String { "cart-\(prefix)-\(run)-\(index)" }

    /// A `LIKE` pattern for every cart of this run.
    public var cartPattern: String { "cart-\(prefix)-\(run)-%" }

    /// Stock, coupons, the customer and the card; safe to run again.
    public func prepare() async throws {
        try await databases.catalog.query(
            """
            INSERT INTO products (id, name, price_cents, stock) VALUES ($1, 'Load item', 500, 1000000000), ($2, 'Never in stock', 700, 0)
            ON CONFLICT (id) DO UPDATE SET stock = CASE WHEN products.id = $2 THEN 0 ELSE greatest(products.stock, 1000000) END
            """, [Self.product, Self.emptyProduct])
        try await databases.promotion.query(
            """
            INSERT INTO coupons (code, percent_off, max_redemptions, expires_at) VALUES
                ($1, 10, 1000000000, now() + interval '10 years'), ($2, 5, 1000000000, now() - interval '1 day')
            ON CONFLICT (code) DO NOTHING
            """, [Self.coupon, Self.expiredCoupon])
        try await databases.identity.query(
            "INSERT INTO customers (id, name, email) VALUES ($1, 'Load Generator', 'load@example.com') ON CONFLICT (id) DO NOTHING", [Self.customer])
        try await databases.identity.query(
            """
            INSERT INTO payment_cards (id, customer_id, last4, expires_on, limit_cents) VALUES ($1, $2, '9999', date '2099-12-31', 1000000000000)
            ON CONFLICT (id) DO NOTHING
            """, [Self.card, Self.customer])
    }

    /// Opens the carts of these checkouts (an event log: one CART_CREATED each), in one statement.
    public func openCarts(_ indices: [Int]) async throws {
        try await databases.cart.query(
            """
            INSERT INTO cart_events (cart_id, seq, type, customer_id) SELECT unnest($1::text[]), 1, 'CART_CREATED', $2
            ON CONFLICT DO NOTHING
            """, [indices.map(cart), Self.customer])
    }

    /// The checkout request of checkout `index`, meant to end as `outcome`. A checkout failing at
    /// cart-convert names a cart that was never opened.
    public func body(_ index: Int, _ outcome: CheckoutOutcome) throws -> Data {
        var body: [String: Any] = [
            "customerId": Self.customer, "cartId": cart(index), "paymentCardId": Self.card,
            "items": [["productId": Self.product, "quantity": 1 + index % 3]],
            "shippingAddress": ["line1": "1 Load Lane", "city": "London", "postalCode": "E1 6AN", "country": "GB"],
        ]
        if index % 2 == 0 { body["couponCode"] = Self.coupon }
        switch outcome {
        case .succeeds: break
        case .failsAtReserveInventory: body["items"] = [["productId": Self.emptyProduct, "quantity": 1]]
        case .failsAtValidateCoupon: body["couponCode"] = Self.expiredCoupon
        case .failsAtPayment: body["paymentCardId"] = "card-load-unknown"
        case .failsAtCartConvert: break  // its cart is never opened
        }
        return try JSONSerialization.data(withJSONObject: body)
    }
}

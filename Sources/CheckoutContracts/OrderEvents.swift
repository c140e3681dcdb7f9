/// The domain events on `ordersaga.events` (a topic exchange; the name is the routing key and the
/// message's `type`). The order service also keeps each in `order_events`, the log its read model
/// (the orders API) is folded from.
public enum OrderEvents {
    /// A checkout was accepted: everything the customer asked for.
    public static let created = "order.created"
    /// The payment step's outcome: captured (with the charge) or refused (with the reason).
    public static let paymentCaptured = "order.payment_captured"
    public static let paymentRefused = "order.payment_refused"
    /// The order stands: the catalog's prices and the totals.
    public static let confirmed = "order.confirmed"
    /// The order was cancelled: before it was confirmed (compensated) or after (refunded).
    public static let cancelled = "order.cancelled"
    /// Its saga was parked before the order stood, for an operator.
    public static let failed = "order.failed"
    /// Written once by the migration that started the log, for each order placed before it: the
    /// order as it was then.
    public static let imported = "order.imported"
}

/// A line of an order: the catalog's price once it reserved the stock.
public struct OrderLine: Codable, Sendable, Equatable {
    public var productId: String
    public var quantity: Int
    /// From the catalog's reply, never from the client.
    public var unitPriceCents: Int?

    public init(productId: String, quantity: Int, unitPriceCents: Int? = nil) {
        self.productId = productId; self.quantity = quantity; self.unitPriceCents = unitPriceCents
    }
}

public struct ShippingAddress: Codable, Sendable, Equatable {
    public var line1: String
    public var city: String
    public var postalCode: String
    public var country: String

    public init(line1: String, city: String, postalCode: String, country: String) {
        self.line1 = line1; self.city = city; self.postalCode = postalCode; self.country = country
    }
}

/// The body of every order event: who and which order, and what the event adds.
public struct OrderEvent: Codable, Sendable, Equatable {
    public var orderId: String
    /// The order's number, for people (absent from events sent before it was).
    public var orderNumber: Int?
    /// The saga that emitted it.
    public var sagaId: String
    public var customerId: String
    /// When it happened, by the order database's clock (ISO 8601, milliseconds).
    public var at: String?
    /// Why the order was cancelled, failed, or its payment was refused.
    public var reason: String?
    /// What was charged (``OrderEvents/confirmed``, ``OrderEvents/cancelled``, the payment's).
    public var totalCents: Int?
    public var subtotalCents: Int?
    public var discountCents: Int?
    /// The lines, with the catalog's prices once known.
    public var items: [OrderLine]?
    /// ``OrderEvents/created`` (and ``OrderEvents/imported``): the rest of what was asked.
    public var owner: String?
    public var cartId: String?
    public var couponCode: String?
    public var paymentCardId: String?
    public var shippingAddress: ShippingAddress?
    /// ``OrderEvents/paymentCaptured``: the charge.
    public var chargeId: String?
    /// ``OrderEvents/imported``: the order's status and payment then, and when it was placed.
    public var status: String?
    public var payment: String?
    public var createdAt: String?

    public init(orderId: String, sagaId: String, customerId: String, reason: String? = nil, totalCents: Int? = nil) {
        self.orderId = orderId; self.sagaId = sagaId; self.customerId = customerId; self.reason = reason; self.totalCents = totalCents
    }
}

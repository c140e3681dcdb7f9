/// The domain events on `ordersaga.events` (a topic exchange; the name is the routing key and the
/// message's `type`).
public enum OrderEvents {
    public static let created = "order.created"
    public static let confirmed = "order.confirmed"
    public static let cancelled = "order.cancelled"
}

/// The body of every order event.
public struct OrderEvent: Codable, Sendable, Equatable {
    public var orderId: String
    /// The order's number, for people (absent from events sent before it was).
    public var orderNumber: Int?
    public var sagaId: String
    public var customerId: String
    /// Why the order was cancelled (``OrderEvents/cancelled``).
    public var reason: String?
    /// What was charged (``OrderEvents/confirmed``).
    public var totalCents: Int?

    public init(orderId: String, sagaId: String, customerId: String, reason: String? = nil, totalCents: Int? = nil) {
        self.orderId = orderId; self.sagaId = sagaId; self.customerId = customerId; self.reason = reason; self.totalCents = totalCents
    }
}

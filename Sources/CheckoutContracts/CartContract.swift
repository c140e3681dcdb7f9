/// The cart worker: converts a customer's ACTIVE cart into an order (the pivot) and restores it.
public enum CartContract {
    public static let participant = "cart"
    public static let convertCart = "cart.convert_cart"
    /// Body ``Compensate``.
    public static let restoreCart = "cart.restore_cart"
    public static let commands: Set<String> = [convertCart, restoreCart]

    public struct ConvertCart: Codable, Sendable, Equatable {
        public var orderId: String
        public var customerId: String
        public var cartId: String
        public init(orderId: String, customerId: String, cartId: String) {
            self.orderId = orderId; self.customerId = customerId; self.cartId = cartId
        }
    }

    /// The reply's data.
    public struct Converted: Codable, Sendable, Equatable {
        public var cartId: String
        public init(cartId: String) { self.cartId = cartId }
    }
}

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

    /// What one checkout takes: lines, and units of one product (the cart takes no more either).
    public static let maxLines = 50
    public static let maxQuantity = 1000
}

/// A cart as the cart service's REST API shows it (`GET /api/v1/carts/{id}`): its state folded
/// from its events. The order service reads it to check a cart out.
public struct CartView: Codable, Equatable, Sendable {
    public struct Item: Codable, Equatable, Sendable {
        public var productId: String
        public var quantity: Int
        public init(productId: String, quantity: Int) {
            self.productId = productId
            self.quantity = quantity
        }
    }

    public var id: String
    public var customerId: String
    /// `ACTIVE`, or `CONVERTED` into an order (by `convertedBy`, a saga).
    public var status: String
    public var convertedBy: String?
    public var items: [Item]
    /// The seq of its newest event.
    public var version: Int
    public var createdAt: String
    public var updatedAt: String

    public init(
        id: String, customerId: String, status: String, convertedBy: String?, items: [Item], version: Int, createdAt: String, updatedAt: String
    ) {
        self.id = id; self.customerId = customerId; self.status = status; self.convertedBy = convertedBy
        self.items = items; self.version = version; self.createdAt = createdAt; self.updatedAt = updatedAt
    }
}

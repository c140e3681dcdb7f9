/// The catalog worker: reserves all lines of an order or none, and releases them.
public enum CatalogContract {
    public static let participant = "catalog"
    public static let reserveInventory = "catalog.reserve_inventory"
    /// Body ``Compensate``.
    public static let releaseInventory = "catalog.release_inventory"
    public static let commands: Set<String> = [reserveInventory, releaseInventory]

    public struct ReserveInventory: Codable, Sendable, Equatable {
        public struct Line: Codable, Sendable, Equatable {
            public var productId: String
            public var quantity: Int
            public init(productId: String, quantity: Int) { self.productId = productId; self.quantity = quantity }
        }
        public var orderId: String
        public var items: [Line]
        public init(orderId: String, items: [Line]) { self.orderId = orderId; self.items = items }
    }

    /// The reply's data: the catalog's prices, never the client's.
    public struct Reserved: Codable, Sendable, Equatable {
        public struct Line: Codable, Sendable, Equatable {
            public var productId: String
            public var quantity: Int
            public var unitPriceCents: Int
            public init(productId: String, quantity: Int, unitPriceCents: Int) {
                self.productId = productId; self.quantity = quantity; self.unitPriceCents = unitPriceCents
            }
        }
        public var lines: [Line]
        public var subtotalCents: Int
        public init(lines: [Line], subtotalCents: Int) { self.lines = lines; self.subtotalCents = subtotalCents }
    }
}

/// A cart's state, rebuilt from its events: it is never stored, only its events are.
public struct Cart: Sendable, Equatable {
    public enum Status: String, Sendable { case active = "ACTIVE", converted = "CONVERTED" }

    public struct Event: Sendable, Equatable {
        public var seq: Int
        public var type: String
        public var customerID: String
        public var sagaID: String?
        /// The product an item event is about, and its quantity (added, or set).
        public var productID: String?
        public var quantity: Int?

        public init(seq: Int, type: String, customerID: String, sagaID: String?, productID: String? = nil, quantity: Int? = nil) {
            self.seq = seq
            self.type = type
            self.customerID = customerID
            self.sagaID = sagaID
            self.productID = productID
            self.quantity = quantity
        }
    }

    /// The event types: a cart is created, its items added, set to a quantity or removed, and it
    /// is converted into an order by a saga or restored when that saga is undone.
    public enum EventType {
        public static let created = "CART_CREATED"
        public static let itemAdded = "ITEM_ADDED"
        public static let itemQuantitySet = "ITEM_QUANTITY_SET"
        public static let itemRemoved = "ITEM_REMOVED"
        public static let converted = "CART_CONVERTED"
        public static let restored = "CART_RESTORED"
    }

    public var id: String
    public var customerID: String
    public var status: Status
    /// The saga that converted it, while converted.
    public var convertedBy: String?
    /// The seq of the newest event; the next event is `version + 1`.
    public var version: Int
    /// Each product's quantity, in the order the products were first added.
    public var items: [(productID: String, quantity: Int)] { order.compactMap { id in quantities[id].map { (id, $0) } } }

    private var quantities: [String: Int] = [:]
    private var order: [String] = []

    /// Folds events, oldest first. `nil` when the cart has none (it does not exist).
    public init?(id: String, events: [Event]) {
        guard let first = events.first else { return nil }
        self.id = id
        self.customerID = first.customerID
        self.status = .active
        self.version = 0
        for event in events {
            switch event.type {
            case EventType.converted:
                status = .converted
                convertedBy = event.sagaID
            case EventType.restored:
                status = .active
                convertedBy = nil
            case EventType.itemAdded:
                if let product = event.productID, let quantity = event.quantity { set(product, (quantities[product] ?? 0) + quantity) }
            case EventType.itemQuantitySet:
                if let product = event.productID, let quantity = event.quantity { set(product, quantity) }
            case EventType.itemRemoved:
                if let product = event.productID { set(product, 0) }
            default:
                break  // CART_CREATED
            }
            version = event.seq
        }
    }

    private mutating func set(_ product: String, _ quantity: Int) {
        if quantity > 0 {
            if quantities[product] == nil { order.append(product) }
            quantities[product] = quantity
        } else {
            quantities[product] = nil
            order.removeAll { $0 == product }
        }
    }

    public static func == (lhs: Cart, rhs: Cart) -> Bool {
        lhs.id == rhs.id && lhs.customerID == rhs.customerID && lhs.status == rhs.status && lhs.convertedBy == rhs.convertedBy
            && lhs.version == rhs.version && lhs.quantities == rhs.quantities && lhs.order == rhs.order
    }
}

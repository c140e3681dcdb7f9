/// A cart's state, rebuilt from its events: it is never stored, only its events are.
public struct Cart: Sendable, Equatable {
    public enum Status: String, Sendable { case active = "ACTIVE", converted = "CONVERTED" }

    public struct Event: Sendable, Equatable {
        public var seq: Int
        public var type: String
        public var customerID: String
        public var sagaID: String?

        public init(seq: Int, type: String, customerID: String, sagaID: String?) {
            self.seq = seq
            self.type = type
            self.customerID = customerID
            self.sagaID = sagaID
        }
    }

    public var id: String
    public var customerID: String
    public var status: Status
    /// The saga that converted it, while converted.
    public var convertedBy: String?
    /// The seq of the newest event; the next event is `version + 1`.
    public var version: Int

    /// Folds events, oldest first. `nil` when the cart has none (it does not exist).
    public init?(id: String, events: [Event]) {
        guard let first = events.first else { return nil }
        self.id = id
        self.customerID = first.customerID
        self.status = .active
        self.version = 0
        for event in events {
            switch event.type {
            case "CART_CONVERTED":
                status = .converted
                convertedBy = event.sagaID
            case "CART_RESTORED":
                status = .active
                convertedBy = nil
            default:
                break  // CART_CREATED, ITEM_ADDED leave it active
            }
            version = event.seq
        }
    }
}

/// The notification worker: sends the order confirmation (retriable, never undone), the notice
/// that a confirmed order was cancelled and refunded (the cancel_order saga's last step), and a
/// cancellation notice on ``OrderEvents/cancelled`` for an order that never completed. A customer
/// gets at most one cancellation notice per order.
public enum NotificationContract {
    public static let participant = "notification"
    public static let sendConfirmation = "notification.send_confirmation"
    public static let sendCancellation = "notification.send_cancellation"
    public static let commands: Set<String> = [sendConfirmation, sendCancellation]

    public struct SendConfirmation: Codable, Sendable, Equatable {
        public var orderId: String
        /// The order's number, for people (absent from commands sent before it was).
        public var orderNumber: Int?
        public var customerId: String
        public var totalCents: Int
        public init(orderId: String, orderNumber: Int? = nil, customerId: String, totalCents: Int) {
            self.orderId = orderId; self.orderNumber = orderNumber; self.customerId = customerId; self.totalCents = totalCents
        }
    }

    /// A confirmed order was cancelled: what was refunded, and why.
    public struct SendCancellation: Codable, Sendable, Equatable {
        public var orderId: String
        public var orderNumber: Int?
        public var customerId: String
        public var totalCents: Int
        public var reason: String
        public init(orderId: String, orderNumber: Int? = nil, customerId: String, totalCents: Int, reason: String) {
            self.orderId = orderId; self.orderNumber = orderNumber; self.customerId = customerId; self.totalCents = totalCents
            self.reason = reason
        }
    }

    /// The reply's data.
    public struct Sent: Codable, Sendable, Equatable {
        public var notificationId: Int
        public init(notificationId: Int) { self.notificationId = notificationId }
    }
}

/// The notification worker: sends the order confirmation (retriable, never undone), and a
/// cancellation notice on ``OrderEvents/cancelled``.
public enum NotificationContract {
    public static let participant = "notification"
    public static let sendConfirmation = "notification.send_confirmation"
    public static let commands: Set<String> = [sendConfirmation]

    public struct SendConfirmation: Codable, Sendable, Equatable {
        public var orderId: String
        public var customerId: String
        public var totalCents: Int
        public init(orderId: String, customerId: String, totalCents: Int) {
            self.orderId = orderId; self.customerId = customerId; self.totalCents = totalCents
        }
    }

    /// The reply's data.
    public struct Sent: Codable, Sendable, Equatable {
        public var notificationId: Int
        public init(notificationId: Int) { self.notificationId = notificationId }
    }
}

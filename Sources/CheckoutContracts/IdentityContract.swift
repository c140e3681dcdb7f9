/// The identity worker: charges a customer's card (the payment step) and refunds it.
public enum IdentityContract {
    public static let participant = "identity"
    public static let chargePayment = "identity.charge_payment"
    /// Body ``Compensate``.
    public static let refundPayment = "identity.refund_payment"
    public static let commands: Set<String> = [chargePayment, refundPayment]

    public struct ChargePayment: Codable, Sendable, Equatable {
        public var orderId: String
        public var customerId: String
        public var cardId: String
        public var amountCents: Int
        public init(orderId: String, customerId: String, cardId: String, amountCents: Int) {
            self.orderId = orderId; self.customerId = customerId; self.cardId = cardId; self.amountCents = amountCents
        }
    }

    /// The reply's data.
    public struct Charged: Codable, Sendable, Equatable {
        public var chargeId: String
        public var amountCents: Int
        public init(chargeId: String, amountCents: Int) { self.chargeId = chargeId; self.amountCents = amountCents }
    }
}

/// The promotion worker: redeems a coupon for an order and releases it.
public enum PromotionContract {
    public static let participant = "promotion"
    public static let redeemCoupon = "promotion.redeem_coupon"
    /// Body ``Compensate``.
    public static let releaseCoupon = "promotion.release_coupon"
    public static let commands: Set<String> = [redeemCoupon, releaseCoupon]

    public struct RedeemCoupon: Codable, Sendable, Equatable {
        public var orderId: String
        public var couponCode: String
        public var subtotalCents: Int
        /// Whose order it is, for a coupon's limit per customer (absent in commands sent before it was added).
        public var customerId: String?
        public init(orderId: String, couponCode: String, subtotalCents: Int, customerId: String?) {
            self.orderId = orderId; self.couponCode = couponCode; self.subtotalCents = subtotalCents; self.customerId = customerId
        }
    }

    /// The reply's data.
    public struct Redeemed: Codable, Sendable, Equatable {
        public var couponCode: String
        public var discountCents: Int
        public init(couponCode: String, discountCents: Int) { self.couponCode = couponCode; self.discountCents = discountCents }
    }
}

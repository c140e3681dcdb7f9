import Messaging
import Postgres

/// Redeems a coupon for an order and releases it. Refuses an unknown, expired or exhausted coupon,
/// or a subtotal below the coupon's minimum. One redemption per saga, as the catalog's reservation.
public struct PromotionHandler: CommandHandler {
    public static let redeem = "promotion.redeem_coupon"
    public static let release = "promotion.release_coupon"

    public init() {}

    public var commandTypes: Set<String> { [Self.redeem, Self.release] }

    public struct RedeemCoupon: Codable, Sendable {
        public var orderId: String
        public var couponCode: String
        public var subtotalCents: Int
    }

    public struct Redeemed: Codable, Sendable, Equatable {
        public var couponCode: String
        public var discountCents: Int
    }

    public func handle(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        let existing = try transaction.query(
            "SELECT status, code, discount_cents FROM redemptions WHERE saga_id = $1 FOR UPDATE", [command.sagaID]).first
        let status = try existing?.string("status")
        switch command.type {
        case Self.redeem:
            switch status {
            case "REDEEMED":
                return .succeeded(Redeemed(couponCode: try existing!.string("code"), discountCents: try existing!.int("discount_cents")))
            case "RELEASED":
                return .refused(reason: "compensated", detail: "the redemption was already released")
            default:
                return try redeem(command, in: transaction)
            }
        default:
            switch status {
            case "REDEEMED":
                try transaction.query(
                    "UPDATE coupons SET redeemed_count = redeemed_count - 1 WHERE code = $1", [try existing!.string("code")])
                try transaction.query(
                    "UPDATE redemptions SET status = 'RELEASED', updated_at = now() WHERE saga_id = $1", [command.sagaID])
            case "RELEASED":
                break
            default:
                try transaction.query("INSERT INTO redemptions (saga_id, status) VALUES ($1, 'RELEASED')", [command.sagaID])
            }
            return .succeeded(Empty())
        }
    }

    private func redeem(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        let request = try command.payload(RedeemCoupon.self)
        guard let coupon = try transaction.query(
            """
            SELECT percent_off, min_subtotal_cents, max_redemptions, redeemed_count, expires_at < now() AS expired
            FROM coupons WHERE code = $1 FOR UPDATE
            """, [request.couponCode]).first
        else {
            return .refused(reason: "coupon_unknown", detail: "no coupon \(request.couponCode)")
        }
        if try coupon.bool("expired") {
            return .refused(reason: "coupon_expired", detail: "coupon \(request.couponCode) has expired")
        }
        if try coupon.int("redeemed_count") >= coupon.int("max_redemptions") {
            return .refused(reason: "coupon_exhausted", detail: "coupon \(request.couponCode) has been used up")
        }
        let minimum = try coupon.int("min_subtotal_cents")
        if request.subtotalCents < minimum {
            return .refused(reason: "coupon_minimum_not_met", detail: "coupon \(request.couponCode) needs a subtotal of at least \(minimum) cents")
        }
        let discount = request.subtotalCents * (try coupon.int("percent_off")) / 100
        try transaction.query("UPDATE coupons SET redeemed_count = redeemed_count + 1 WHERE code = $1", [request.couponCode])
        try transaction.query(
            "INSERT INTO redemptions (saga_id, code, status, discount_cents) VALUES ($1, $2, 'REDEEMED', $3)",
            [command.sagaID, request.couponCode, discount])
        return .succeeded(Redeemed(couponCode: request.couponCode, discountCents: discount))
    }
}

import CheckoutContracts
import Messaging
import Postgres

/// Redeems a coupon for an order and releases it. Refuses an unknown, expired or exhausted coupon,
/// or a subtotal below the coupon's minimum. One redemption per saga, as the catalog's reservation.
public struct PromotionHandler: CommandHandler {
    public init() {}

    public var commandTypes: Set<String> { PromotionContract.commands }

    static let record = SagaEffectRecord(table: "redemptions", done: "REDEEMED", undone: "RELEASED")
    static let coupons = SharedRows(table: "coupons", key: "code", recordedIn: "redemptions", column: "code")

    public func handle(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        try Self.record.handle(
            command, compensating: command.type == PromotionContract.releaseCoupon, in: transaction,
            perform: { try redeem(command, in: transaction) },
            again: {
                let row = try transaction.query("SELECT code, discount_cents FROM redemptions WHERE saga_id = $1", [command.sagaID]).first!
                return PromotionContract.Redeemed(couponCode: try row.string("code"), discountCents: try row.int("discount_cents"))
            },
            undo: { sagaID in
                try transaction.query(
                    """
                    UPDATE coupons SET redeemed_count = redeemed_count - 1
                    FROM redemptions r WHERE r.saga_id = $1 AND r.code = coupons.code
                    """, [sagaID])
            })
    }

    /// The coupons of every redemption and release of a batch, locked in code order.
    public func lockShared(by commands: [IncomingCommand], in transaction: PostgresConnection) throws {
        try Self.coupons.lock(
            try commands.filter { $0.type == PromotionContract.redeemCoupon }.map { try $0.payload(PromotionContract.RedeemCoupon.self).couponCode },
            recordedBy: try commands.filter { $0.type == PromotionContract.releaseCoupon }.map(SagaEffectRecord.effectSagaID), in: transaction)
    }

    private func redeem(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        let request = try command.payload(PromotionContract.RedeemCoupon.self)
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
        return .succeeded(PromotionContract.Redeemed(couponCode: request.couponCode, discountCents: discount))
    }
}

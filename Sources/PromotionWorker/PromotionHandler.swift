import CheckoutContracts
import Messaging
import Postgres

/// Redeems a coupon for an order and releases it. Refuses an unknown, expired, not yet valid or
/// exhausted coupon, one the customer has used as often as it allows, or a subtotal below the
/// coupon's minimum. One redemption per saga, as the catalog's reservation.
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
                try transaction.send(
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
            SELECT percent_off, amount_off_cents, min_subtotal_cents, max_redemptions, redeemed_count, max_per_customer,
                   expires_at < now() AS expired, starts_at > now() AS not_started
            FROM coupons WHERE code = $1 FOR UPDATE
            """, [request.couponCode]).first
        else {
            return .refused(reason: "coupon_unknown", detail: "no coupon \(request.couponCode)")
        }
        if try coupon.bool("expired") {
            return .refused(reason: "coupon_expired", detail: "coupon \(request.couponCode) has expired")
        }
        if try coupon.bool("not_started") {
            return .refused(reason: "coupon_not_started", detail: "coupon \(request.couponCode) is not valid yet")
        }
        if try coupon.int("redeemed_count") >= coupon.int("max_redemptions") {
            return .refused(reason: "coupon_exhausted", detail: "coupon \(request.couponCode) has been used up")
        }
        // The coupon's row is locked, so the redemptions counted here cannot change before the commit.
        if let perCustomer = try coupon.optionalInt("max_per_customer"), let customer = request.customerId,
           try transaction.query(
               "SELECT count(*) AS n FROM redemptions WHERE code = $1 AND customer_id = $2 AND status = 'REDEEMED'", [request.couponCode, customer]
           ).first!.int("n") >= perCustomer {
            return .refused(reason: "coupon_customer_limit", detail: "customer \(customer) has used coupon \(request.couponCode) \(perCustomer) times already")
        }
        let minimum = try coupon.int("min_subtotal_cents")
        if request.subtotalCents < minimum {
            return .refused(reason: "coupon_minimum_not_met", detail: "coupon \(request.couponCode) needs a subtotal of at least \(minimum) cents")
        }
        let discount = try Self.discount(
            subtotal: request.subtotalCents, percentOff: coupon.optionalInt("percent_off"), amountOff: coupon.optionalInt("amount_off_cents"))
        // Writes nobody reads back: they go with the reply's insert and the COMMIT, in one round trip.
        try transaction.send("UPDATE coupons SET redeemed_count = redeemed_count + 1 WHERE code = $1", [request.couponCode])
        try transaction.send(
            "INSERT INTO redemptions (saga_id, code, status, discount_cents, customer_id) VALUES ($1, $2, 'REDEEMED', $3, $4)",
            [command.sagaID, request.couponCode, discount, request.customerId])
        return .succeeded(PromotionContract.Redeemed(couponCode: request.couponCode, discountCents: discount))
    }

    /// A percentage of the subtotal (rounded down), or a fixed amount, never more than the subtotal.
    static func discount(subtotal: Int, percentOff: Int?, amountOff: Int?) -> Int {
        if let percentOff { return subtotal * percentOff / 100 }
        return min(amountOff ?? 0, subtotal)
    }
}

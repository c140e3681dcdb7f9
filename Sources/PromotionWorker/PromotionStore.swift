import Foundation
import Postgres

/// A coupon as the promotion service's REST API shows it.
public struct Coupon: Codable, Equatable, Sendable {
    public var code: String
    /// One of the two: a percentage of the subtotal, or a fixed amount off (never more than the subtotal).
    public var percentOff: Int?
    public var amountOffCents: Int?
    public var minSubtotalCents: Int
    /// Redemptions it allows in all, and how many it has now (released ones give theirs back).
    public var maxRedemptions: Int
    public var redeemedCount: Int
    /// Redemptions one customer may make; absent: no limit.
    public var maxPerCustomer: Int?
    /// When it becomes valid (absent: at once) and when it expires.
    public var startsAt: String?
    public var expiresAt: String
    public var createdAt: String
}

/// One saga's redemption: `REDEEMED`, or `RELEASED` (given back, or refused before it was taken).
public struct Redemption: Codable, Equatable, Sendable {
    public var sagaId: String
    public var customerId: String?
    public var status: String
    public var discountCents: Int
    public var createdAt: String
    public var updatedAt: String
}

public enum PromotionRefusal: Error, Equatable, Sendable { case notFound, duplicate, belowRedeemed(Int) }

/// All SQL of the promotion service's REST API, over its own database.
public struct PromotionStore: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    static func time(_ column: String, as name: String) -> String {
        "\(PostgresSQL.utcTime(column)) AS \(name)"
    }

    private static let columns = """
        code, percent_off, amount_off_cents, min_subtotal_cents, max_redemptions, redeemed_count, max_per_customer,
        CASE WHEN starts_at = '-infinity' THEN NULL ELSE \(PostgresSQL.utcTime("starts_at")) END AS starts,
        \(time("expires_at", as: "expires")), \(time("created_at", as: "created"))
        """

    private static func coupon(_ row: PostgresRow) throws -> Coupon {
        Coupon(
            code: try row.string("code"), percentOff: try row.optionalInt("percent_off"), amountOffCents: try row.optionalInt("amount_off_cents"),
            minSubtotalCents: try row.int("min_subtotal_cents"), maxRedemptions: try row.int("max_redemptions"),
            redeemedCount: try row.int("redeemed_count"), maxPerCustomer: try row.optionalInt("max_per_customer"),
            startsAt: try row.optionalString("starts"), expiresAt: try row.string("expires"), createdAt: try row.string("created"))
    }

    public func coupons(after: String?, limit: Int) async throws -> [Coupon] {
        try await pool.query(
            "SELECT \(Self.columns) FROM coupons WHERE $1::text IS NULL OR code > $1 ORDER BY code LIMIT $2", [after, limit]
        ).map(Self.coupon)
    }

    public func coupon(_ code: String) async throws -> Coupon? {
        try await pool.query("SELECT \(Self.columns) FROM coupons WHERE code = $1", [code]).first.map(Self.coupon)
    }

    /// `startsAt`, `expiresAt`: RFC 3339 times, as the API checked them.
    public func create(_ coupon: Coupon) async throws -> Coupon {
        do {
            return try Self.coupon(try await pool.query(
                """
                INSERT INTO coupons (code, percent_off, amount_off_cents, min_subtotal_cents, max_redemptions, max_per_customer, starts_at, expires_at)
                VALUES ($1, $2, $3, $4, $5, $6, coalesce($7::timestamptz, '-infinity'), $8::timestamptz)
                RETURNING \(Self.columns)
                """,
                [coupon.code, coupon.percentOff, coupon.amountOffCents, coupon.minSubtotalCents, coupon.maxRedemptions, coupon.maxPerCustomer,
                 coupon.startsAt, coupon.expiresAt]
            ).first!)
        } catch let error as PostgresError where error.isUniqueViolation {
            throw PromotionRefusal.duplicate
        }
    }

    /// Moves its expiry, or changes how many redemptions it allows (never below those it has).
    /// The row is locked, as a redemption locks it.
    public func update(_ code: String, expiresAt: String?, maxRedemptions: Int?) async throws -> Coupon {
        try await pool.transaction { connection in
            guard let current = try connection.query("SELECT redeemed_count FROM coupons WHERE code = $1 FOR UPDATE", [code]).first else {
                throw PromotionRefusal.notFound
            }
            let redeemed = try current.int("redeemed_count")
            if let maxRedemptions, maxRedemptions < redeemed { throw PromotionRefusal.belowRedeemed(redeemed) }
            return try Self.coupon(try connection.query(
                """
                UPDATE coupons SET expires_at = coalesce($2::timestamptz, expires_at), max_redemptions = coalesce($3, max_redemptions)
                WHERE code = $1 RETURNING \(Self.columns)
                """, [code, expiresAt, maxRedemptions]
            ).first!)
        }
    }

    /// The coupon's redemptions, newest first; `nil` when there is no such coupon.
    public func redemptions(of code: String, limit: Int) async throws -> [Redemption]? {
        try await pool.withConnection { connection in
            guard !(try connection.query("SELECT 1 FROM coupons WHERE code = $1", [code]).isEmpty) else { return nil }
            return try connection.query(
                """
                SELECT saga_id, customer_id, status, discount_cents, \(Self.time("created_at", as: "created")), \(Self.time("updated_at", as: "updated"))
                FROM redemptions WHERE code = $1 ORDER BY created_at DESC, saga_id LIMIT $2
                """, [code, limit]
            ).map { row in
                Redemption(
                    sagaId: try row.string("saga_id"), customerId: try row.optionalString("customer_id"), status: try row.string("status"),
                    discountCents: try row.int("discount_cents"), createdAt: try row.string("created"), updatedAt: try row.string("updated"))
            }
        }
    }
}

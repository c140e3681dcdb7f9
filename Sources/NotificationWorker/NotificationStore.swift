import Foundation
import Postgres

/// A message template as the notification service's REST API shows it.
public struct TemplateView: Codable, Equatable, Sendable {
    /// `ORDER_CONFIRMED`, `ORDER_CANCELLED` or `ORDER_REFUNDED`.
    public var kind: String
    public var subject: String
    public var body: String
    public var updatedAt: String
    /// Who last changed it (`key:<id>` or `jwt:<sub>`); absent for the shipped text.
    public var updatedBy: String?
}

/// A notification sent (recorded, and delivered as an `.eml` file when delivery is on).
public struct NotificationView: Codable, Equatable, Sendable {
    public var id: Int
    public var kind: String
    public var sagaId: String
    public var orderId: String
    public var customerId: String
    public var subject: String
    public var body: String
    public var createdAt: String
}

/// All SQL of the notification service's REST API, over its own database.
public struct NotificationStore: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    static func time(_ column: String) -> String { PostgresSQL.utcTime(column) }

    private static let templateColumns = "kind, subject, body, \(time("updated_at")) AS updated, updated_by"

    private static func template(_ row: PostgresRow) throws -> TemplateView {
        TemplateView(
            kind: try row.string("kind"), subject: try row.string("subject"), body: try row.string("body"),
            updatedAt: try row.string("updated"), updatedBy: try row.optionalString("updated_by"))
    }

    public func templates() async throws -> [TemplateView] {
        try await pool.query("SELECT \(Self.templateColumns) FROM templates ORDER BY kind").map(Self.template)
    }

    public func template(_ kind: String) async throws -> TemplateView? {
        try await pool.query("SELECT \(Self.templateColumns) FROM templates WHERE kind = $1", [kind]).first.map(Self.template)
    }

    /// Replaces a kind's template (the worker uses the new text from its next message); `nil`
    /// when there is no such kind.
    public func replace(_ kind: String, subject: String, body: String, by actor: String) async throws -> TemplateView? {
        try await pool.query(
            """
            UPDATE templates SET subject = $2, body = $3, updated_at = now(), updated_by = $4 WHERE kind = $1
            RETURNING \(Self.templateColumns)
            """, [kind, subject, body, actor]
        ).first.map(Self.template)
    }

    /// Notifications newest first, before the one with id `before`, of a customer or an order when given.
    public func notifications(customer: String?, order: String?, before: Int?, limit: Int) async throws -> [NotificationView] {
        try await pool.query(
            """
            SELECT id, kind, saga_id, order_id, customer_id, subject, body, \(Self.time("created_at")) AS created FROM notifications
            WHERE ($1::text IS NULL OR customer_id = $1) AND ($2::text IS NULL OR order_id = $2) AND ($3::bigint IS NULL OR id < $3)
            ORDER BY id DESC LIMIT $4
            """, [customer, order, before, limit]
        ).map { row in
            NotificationView(
                id: try row.int("id"), kind: try row.string("kind"), sagaId: try row.string("saga_id"), orderId: try row.string("order_id"),
                customerId: try row.string("customer_id"), subject: try row.string("subject"), body: try row.string("body"),
                createdAt: try row.string("created"))
        }
    }
}

import Foundation
import Postgres

/// A product as the catalog's REST API shows it.
public struct Product: Codable, Equatable, Sendable {
    public var id: String
    public var name: String
    public var priceCents: Int
    /// Units free to reserve now.
    public var stock: Int
    public var createdAt: String
    public var updatedAt: String
}

/// One change to a product's stock: an adjustment made through the API, a saga's reservation, or
/// its release.
public struct StockChange: Codable, Equatable, Sendable {
    /// `adjustment`, `reservation` or `release`.
    public var kind: String
    public var at: String
    /// Units added (negative: taken).
    public var delta: Int
    /// The stock right after, for an adjustment.
    public var stockAfter: Int?
    public var reason: String?
    /// Who made an adjustment (`key:<id>` or `jwt:<sub>`).
    public var actor: String?
    /// The saga that reserved or released.
    public var sagaId: String?
}

/// A product's stock history page, newest first.
public struct StockHistory: Codable, Equatable, Sendable {
    public var productId: String
    public var stock: Int
    public var changes: [StockChange]
    /// Give it as `cursor` for the next page; absent on the last.
    public var nextCursor: String?
}

/// Where in a history a page starts: after the change with this time (microseconds), kind and reference.
struct HistoryCursor: Equatable {
    var micros: Int64
    var kind: String
    var reference: String

    /// `<micros>.<kind>.<reference>`, base64url, so a client treats it as opaque.
    var text: String {
        Data("\(micros).\(kind).\(reference)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    init(micros: Int64, kind: String, reference: String) {
        self.micros = micros
        self.kind = kind
        self.reference = reference
    }

    init?(_ text: String) {
        guard text.count <= 200 else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let plain = String(data: data, encoding: .utf8) else { return nil }
        let parts = plain.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let micros = Int64(parts[0]), micros >= 0,
              ["adjustment", "reservation", "release"].contains(parts[1]), !parts[2].isEmpty
        else { return nil }
        self.init(micros: micros, kind: String(parts[1]), reference: String(parts[2]))
    }
}

/// Why a write to the catalog was refused; the API names the field.
public struct CatalogRefusal: Error, Equatable, Sendable {
    public enum Reason: Equatable, Sendable { case notFound, duplicate, belowZero(stock: Int), overLimit(stock: Int) }
    public let reason: Reason
}

/// All SQL of the catalog's REST API, over the catalog's own database.
public struct CatalogStore: Sendable {
    let pool: PostgresPool

    /// The most units of one product (the column is a 32-bit integer).
    public static let maxStock = 1_000_000_000

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    private static let columns = """
        id, name, price_cents, stock,
        \(PostgresSQL.utcTime("created_at")) AS created, \(PostgresSQL.utcTime("updated_at")) AS updated
        """

    private static func product(_ row: PostgresRow) throws -> Product {
        Product(
            id: try row.string("id"), name: try row.string("name"), priceCents: try row.int("price_cents"),
            stock: try row.int("stock"), createdAt: try row.string("created"), updatedAt: try row.string("updated"))
    }

    /// Up to `limit` products by id, after the product `after`.
    public func products(after: String?, limit: Int) async throws -> [Product] {
        try await pool.query(
            "SELECT \(Self.columns) FROM products WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2", [after, limit]
        ).map(Self.product)
    }

    public func product(_ id: String) async throws -> Product? {
        try await pool.query("SELECT \(Self.columns) FROM products WHERE id = $1", [id]).first.map(Self.product)
    }

    /// A new product; its first stock is recorded as an adjustment. Throws `.duplicate` when the id is taken.
    public func create(id: String, name: String, priceCents: Int, stock: Int, actor: String) async throws -> Product {
        do {
            return try await pool.transaction { connection in
                let row = try connection.query(
                    "INSERT INTO products (id, name, price_cents, stock) VALUES ($1, $2, $3, $4) RETURNING \(Self.columns)",
                    [id, name, priceCents, stock])
                if stock > 0 {
                    try connection.query(
                        "INSERT INTO stock_adjustments (product_id, delta, stock_after, reason, actor) VALUES ($1, $2, $2, 'created', $3)",
                        [id, stock, actor])
                }
                return try Self.product(row.first!)
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw CatalogRefusal(reason: .duplicate)
        }
    }

    /// Changes a product's name or price (what is `nil` stays). Reservations keep the price they took.
    public func update(_ id: String, name: String?, priceCents: Int?) async throws -> Product {
        guard let row = try await pool.query(
            """
            UPDATE products SET name = coalesce($2, name), price_cents = coalesce($3, price_cents), updated_at = now()
            WHERE id = $1 RETURNING \(Self.columns)
            """, [id, name, priceCents]).first
        else { throw CatalogRefusal(reason: .notFound) }
        return try Self.product(row)
    }

    /// Adds `delta` units (or takes them), or sets the stock to `stock`: one of the two. The
    /// product's row is locked, as a reservation locks it, so the change and the history agree.
    public func adjust(_ id: String, delta: Int? = nil, setTo stock: Int? = nil, reason: String, actor: String) async throws -> (Product, StockChange) {
        try await pool.transaction { connection in
            guard let current = try connection.query("SELECT stock FROM products WHERE id = $1 FOR UPDATE", [id]).first else {
                throw CatalogRefusal(reason: .notFound)
            }
            let before = try current.int("stock")
            let change = delta ?? ((stock ?? before) - before)
            guard before + change >= 0 else { throw CatalogRefusal(reason: .belowZero(stock: before)) }
            guard before + change <= CatalogStore.maxStock else { throw CatalogRefusal(reason: .overLimit(stock: before)) }
            let row = try connection.query(
                "UPDATE products SET stock = stock + $2, updated_at = now() WHERE id = $1 RETURNING \(Self.columns)", [id, change]
            ).first!
            let adjustment = try connection.query(
                """
                INSERT INTO stock_adjustments (product_id, delta, stock_after, reason, actor) VALUES ($1, $2, $3, $4, $5)
                RETURNING \(PostgresSQL.utcTime("created_at")) AS at
                """, [id, change, before + change, reason, actor]
            ).first!
            return (
                try Self.product(row),
                StockChange(kind: "adjustment", at: try adjustment.string("at"), delta: change, stockAfter: before + change, reason: reason, actor: actor)
            )
        }
    }

    /// A product's stock changes, newest first: adjustments, and each saga's reservation and release.
    func history(_ id: String, after cursor: HistoryCursor?, limit: Int) async throws -> StockHistory? {
        try await pool.withConnection { connection in
            guard let product = try connection.query("SELECT stock FROM products WHERE id = $1", [id]).first else { return nil }
            let rows = try connection.query(
                """
                SELECT kind, reference, delta, stock_after, reason, actor, saga_id,
                       (extract(epoch FROM at) * 1000000)::bigint AS micros,
                       \(PostgresSQL.utcTime("at")) AS at_text
                FROM (
                    SELECT created_at AS at, 'adjustment' AS kind, lpad(id::text, 20, '0') AS reference, delta, stock_after,
                           reason, actor, NULL::text AS saga_id
                    FROM stock_adjustments WHERE product_id = $1
                    UNION ALL
                    SELECT r.created_at, 'reservation', r.saga_id, -l.quantity, NULL, NULL, NULL, r.saga_id
                    FROM reservation_lines l JOIN reservations r USING (saga_id) WHERE l.product_id = $1
                    UNION ALL
                    SELECT r.updated_at, 'release', r.saga_id, l.quantity, NULL, NULL, NULL, r.saga_id
                    FROM reservation_lines l JOIN reservations r USING (saga_id) WHERE l.product_id = $1 AND r.status = 'RELEASED'
                ) h
                WHERE $2::bigint IS NULL OR ((extract(epoch FROM at) * 1000000)::bigint, kind, reference) < ($2::bigint, $3::text, $4::text)
                ORDER BY micros DESC, kind DESC, reference DESC
                LIMIT $5
                """, [id, cursor?.micros, cursor?.kind, cursor?.reference, limit + 1])
            var changes: [StockChange] = []
            var last: HistoryCursor?
            for row in rows.prefix(limit) {
                changes.append(StockChange(
                    kind: try row.string("kind"), at: try row.string("at_text"), delta: try row.int("delta"),
                    stockAfter: try row.optionalInt("stock_after"), reason: try row.optionalString("reason"),
                    actor: try row.optionalString("actor"), sagaId: try row.optionalString("saga_id")))
                last = HistoryCursor(micros: Int64(try row.int("micros")), kind: try row.string("kind"), reference: try row.string("reference"))
            }
            return StockHistory(
                productId: id, stock: try product.int("stock"), changes: changes,
                nextCursor: rows.count > limit ? last?.text : nil)
        }
    }
}

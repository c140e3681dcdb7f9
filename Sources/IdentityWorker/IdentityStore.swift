import Foundation
import Postgres

/// A customer as the identity service's REST API shows it.
public struct Customer: Codable, Equatable, Sendable {
    public var id: String
    public var name: String
    public var email: String
    /// A deactivated customer's cards are refused at payment.
    public var active: Bool
    public var createdAt: String
}

public struct Address: Codable, Equatable, Sendable {
    public var id: String
    public var line1: String
    public var city: String
    public var postalCode: String
    public var country: String
}

/// A payment card, masked: only its brand and last four digits are ever stored.
public struct Card: Codable, Equatable, Sendable {
    public var id: String
    public var brand: String
    public var last4: String
    /// `•••• 4242`.
    public var masked: String
    /// The last month it is valid, `2031-12`.
    public var expires: String
    public var limitCents: Int
    public var createdAt: String
}

/// One saga's charge: `CAPTURED`, or `REFUNDED` (given back, or refused before it was taken).
public struct Charge: Codable, Equatable, Sendable {
    public var sagaId: String
    public var cardId: String?
    public var amountCents: Int
    public var status: String
    public var createdAt: String
    public var updatedAt: String
}

/// Why a write to the identity service was refused; the API names the field.
public enum IdentityRefusal: Error, Equatable, Sendable { case noCustomer, noCard, duplicate, inactive }

/// All SQL of the identity service's REST API, over its own database.
public struct IdentityStore: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    static func time(_ column: String, as name: String) -> String {
        "\(PostgresSQL.utcTime(column)) AS \(name)"
    }

    private static let customerColumns = "id, name, email, active, \(time("created_at", as: "created"))"

    private static func customer(_ row: PostgresRow) throws -> Customer {
        Customer(
            id: try row.string("id"), name: try row.string("name"), email: try row.string("email"), active: try row.bool("active"),
            createdAt: try row.string("created"))
    }

    public func customers(after: String?, limit: Int) async throws -> [Customer] {
        try await pool.query(
            "SELECT \(Self.customerColumns) FROM customers WHERE $1::text IS NULL OR id > $1 ORDER BY id LIMIT $2", [after, limit]
        ).map(Self.customer)
    }

    public func customer(_ id: String) async throws -> Customer? {
        try await pool.query("SELECT \(Self.customerColumns) FROM customers WHERE id = $1", [id]).first.map(Self.customer)
    }

    public func createCustomer(id: String, name: String, email: String) async throws -> Customer {
        do {
            return try Self.customer(try await pool.query(
                "INSERT INTO customers (id, name, email) VALUES ($1, $2, $3) RETURNING \(Self.customerColumns)", [id, name, email]
            ).first!)
        } catch let error as PostgresError where error.isUniqueViolation {
            throw IdentityRefusal.duplicate
        }
    }

    /// Deactivates a customer (again: the same); from then on their cards are refused at payment.
    public func deactivate(_ id: String) async throws -> Customer {
        guard let row = try await pool.query(
            "UPDATE customers SET active = false WHERE id = $1 RETURNING \(Self.customerColumns)", [id]
        ).first else { throw IdentityRefusal.noCustomer }
        return try Self.customer(row)
    }

    public func addresses(of customer: String) async throws -> [Address]? {
        try await pool.withConnection { connection in
            guard !(try connection.query("SELECT 1 FROM customers WHERE id = $1", [customer]).isEmpty) else { return nil }
            return try connection.query(
                "SELECT id, line1, city, postal_code, country FROM addresses WHERE customer_id = $1 ORDER BY id", [customer]
            ).map(Self.address)
        }
    }

    private static func address(_ row: PostgresRow) throws -> Address {
        Address(
            id: try row.string("id"), line1: try row.string("line1"), city: try row.string("city"),
            postalCode: try row.string("postal_code"), country: try row.string("country"))
    }

    public func addAddress(_ address: Address, to customer: String) async throws -> Address {
        try await pool.transaction { connection in
            guard !(try connection.query("SELECT 1 FROM customers WHERE id = $1", [customer]).isEmpty) else { throw IdentityRefusal.noCustomer }
            let rows = try connection.query(
                """
                INSERT INTO addresses (id, customer_id, line1, city, postal_code, country) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (id) DO NOTHING RETURNING id, line1, city, postal_code, country
                """, [address.id, customer, address.line1, address.city, address.postalCode, address.country])
            guard let row = rows.first else { throw IdentityRefusal.duplicate }
            return try Self.address(row)
        }
    }

    private static let cardColumns = "id, brand, last4, to_char(expires_on, 'YYYY-MM') AS expires, limit_cents, \(time("created_at", as: "created"))"

    private static func card(_ row: PostgresRow) throws -> Card {
        let last4 = try row.string("last4")
        return Card(
            id: try row.string("id"), brand: try row.string("brand"), last4: last4, masked: "•••• \(last4)",
            expires: try row.string("expires"), limitCents: try row.int("limit_cents"), createdAt: try row.string("created"))
    }

    /// The customer's cards that were not removed; `nil` when there is no such customer.
    public func cards(of customer: String) async throws -> [Card]? {
        try await pool.withConnection { connection in
            guard !(try connection.query("SELECT 1 FROM customers WHERE id = $1", [customer]).isEmpty) else { return nil }
            return try connection.query(
                "SELECT \(Self.cardColumns) FROM payment_cards WHERE customer_id = $1 AND removed_at IS NULL ORDER BY id", [customer]
            ).map(Self.card)
        }
    }

    /// A card valid to the end of `expires` (`2031-12`); a deactivated customer gets none.
    public func addCard(id: String, to customer: String, brand: String, last4: String, expires: String, limitCents: Int) async throws -> Card {
        try await pool.transaction { connection in
            guard let owner = try connection.query("SELECT active FROM customers WHERE id = $1 FOR SHARE", [customer]).first else {
                throw IdentityRefusal.noCustomer
            }
            guard try owner.bool("active") else { throw IdentityRefusal.inactive }
            let rows = try connection.query(
                """
                INSERT INTO payment_cards (id, customer_id, brand, last4, expires_on, limit_cents)
                VALUES ($1, $2, $3, $4, (to_date($5, 'YYYY-MM') + interval '1 month' - interval '1 day')::date, $6)
                ON CONFLICT (id) DO NOTHING RETURNING \(Self.cardColumns)
                """, [id, customer, brand, last4, expires, limitCents])
            guard let row = rows.first else { throw IdentityRefusal.duplicate }
            return try Self.card(row)
        }
    }

    /// Removes a card: it stays for the charges made with it, and is refused at payment from now on.
    public func removeCard(_ id: String, of customer: String) async throws {
        let rows = try await pool.query(
            "UPDATE payment_cards SET removed_at = coalesce(removed_at, now()) WHERE id = $1 AND customer_id = $2 AND removed_at IS NULL RETURNING id",
            [id, customer])
        guard !rows.isEmpty else { throw IdentityRefusal.noCard }
    }

    /// The charges on the customer's cards (removed ones too), newest first; `nil` when there is no such customer.
    public func charges(of customer: String, limit: Int) async throws -> [Charge]? {
        try await pool.withConnection { connection in
            guard !(try connection.query("SELECT 1 FROM customers WHERE id = $1", [customer]).isEmpty) else { return nil }
            return try connection.query(
                """
                SELECT ch.saga_id, ch.card_id, ch.amount_cents, ch.status,
                       \(Self.time("ch.created_at", as: "created")), \(Self.time("ch.updated_at", as: "updated"))
                FROM charges ch JOIN payment_cards c ON c.id = ch.card_id
                WHERE c.customer_id = $1 ORDER BY ch.created_at DESC, ch.saga_id LIMIT $2
                """, [customer, limit]
            ).map { row in
                Charge(
                    sagaId: try row.string("saga_id"), cardId: try row.optionalString("card_id"), amountCents: try row.int("amount_cents"),
                    status: try row.string("status"), createdAt: try row.string("created"), updatedAt: try row.string("updated"))
            }
        }
    }
}

import CheckoutContracts
import Foundation
import HTTPEdge
import Postgres

/// The order database's API keys (`api_keys`): what `ordersaga api-key create|list|revoke` and the
/// service's ``Authenticator`` read and write. Only each key's hash is stored.
public struct APIKeyStore: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Stores `key` (a new one by default) with `name` and `scopes`; the returned key is the only
    /// time its text exists.
    public func create(
        _ key: APIKey = .generate(), name: String, scopes: Set<Scope>, rateLimit: Int?
    ) async throws -> (APIKey, APIKeyRecord) {
        let row = try await pool.query(
            """
            INSERT INTO api_keys (id, name, hash, scopes, rate_limit) VALUES ($1, $2, $3, $4, $5)
            RETURNING \(Self.columns)
            """, [key.id, name, key.hash, scopes.sorted().map(\.rawValue).joined(separator: " "), rateLimit]
        ).first!
        return (key, try Self.record(row))
    }

    /// Every key, oldest first; revoked ones only with `revoked`.
    public func list(revoked: Bool = false) async throws -> [APIKeyRecord] {
        try await pool.query(
            "SELECT \(Self.columns) FROM api_keys \(revoked ? "" : "WHERE revoked_at IS NULL ") ORDER BY created_at, id"
        ).map(Self.record)
    }

    /// Revokes the key `id`; `nil` when there is no such key, else the key as it is now (already
    /// revoked keys keep the time they were first revoked).
    public func revoke(id: String) async throws -> APIKeyRecord? {
        try await pool.query(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING \(Self.columns)", [id]
        ).first.map(Self.record)
    }

    /// The key `id` if it exists, revoked or not, with its hash; marked used now when `hash` is
    /// its hash and it is not revoked (a request that showed the whole key).
    func record(id: String, using hash: String) async throws -> APIKeyRecord? {
        try await pool.query(
            """
            WITH used AS (UPDATE api_keys SET last_used_at = now() WHERE id = $1 AND hash = $2 AND revoked_at IS NULL RETURNING 1)
            SELECT \(Self.columns) FROM api_keys WHERE id = $1
            """, [id, hash]
        ).first.map(Self.record)
    }

    private static let columns = """
        id, name, hash, scopes, rate_limit, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at,
        to_char(revoked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS revoked_at,
        to_char(last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last_used_at
        """

    private static func record(_ row: PostgresRow) throws -> APIKeyRecord {
        APIKeyRecord(
            id: try row.string("id"), name: try row.string("name"),
            scopes: Scope.parse(try row.string("scopes")).map { $0.sorted() } ?? [],
            rateLimit: try row.optionalInt("rate_limit"), createdAt: try row.string("created_at"),
            revokedAt: try row.optionalString("revoked_at"), lastUsedAt: try row.optionalString("last_used_at"), hash: try row.string("hash"))
    }
}

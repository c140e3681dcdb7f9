import Foundation
import Postgres

/// The migrations of one service's database: `schema/shared/` and `schema/<database>/`, merged by
/// number, and its optional `seed.sql`.
public enum SchemaMigrations {
    public static let databases = ["order", "catalog", "promotion", "identity", "cart", "notification"]

    public static func migrations(schemaDirectory: URL, database: String) throws -> [PostgresMigrator.Migration] {
        let shared = try PostgresMigrator.migrations(in: schemaDirectory.appendingPathComponent("shared"))
        let own = try PostgresMigrator.migrations(in: schemaDirectory.appendingPathComponent(database))
        let all = (shared + own).sorted { $0.version < $1.version }
        for (previous, next) in zip(all, all.dropFirst()) where previous.version == next.version {
            throw PostgresError.migration("schema/shared and schema/\(database) both have a migration numbered \(next.version)")
        }
        return all
    }

    /// The demo data of `database`, if it has any.
    public static func seed(schemaDirectory: URL, database: String) throws -> String? {
        let url = schemaDirectory.appendingPathComponent(database).appendingPathComponent("seed.sql")
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// Migrates (and optionally seeds) one database; returns the migrations it applied.
    @discardableResult
    public static func apply(schemaDirectory: URL, database: String, pool: PostgresPool, seed: Bool, migrator: PostgresMigrator) async throws -> [String] {
        let applied = try await migrator.migrate(try migrations(schemaDirectory: schemaDirectory, database: database), pool: pool)
        if seed, let script = try self.seed(schemaDirectory: schemaDirectory, database: database) {
            try await pool.withConnection { connection in try connection.execute(script: script) }
        }
        return applied
    }
}

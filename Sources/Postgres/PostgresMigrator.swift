import Foundation

/// Applies `NNN_name.sql` files in order, each in its own transaction, and records what it applied
/// in `schema_migrations`. Safe to run twice and from several processes at once (an advisory lock
/// serialises them); refuses to run when an applied file was changed since.
public struct PostgresMigrator: Sendable {
    public struct Migration: Sendable, Equatable {
        public let version: Int
        public let name: String
        public let sql: String
        public var checksum: String { String(Self.fnv1a(sql), radix: 16) }

        public init(version: Int, name: String, sql: String) {
            self.version = version
            self.name = name
            self.sql = sql
        }

        static func fnv1a(_ text: String) -> UInt64 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in text.utf8 {
                hash ^= UInt64(byte)
                hash &*= 0x100_0000_01b3
            }
            return hash
        }
    }

    public init() {}

    /// Reads `NNN_name.sql` files from `directory`, sorted by number; other files are ignored.
    public static func migrations(in directory: URL) throws -> [Migration] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        var migrations: [Migration] = []
        for name in names where name.hasSuffix(".sql") {
            let stem = name.dropLast(4)
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else { continue }
            let sql = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            migrations.append(Migration(version: version, name: String(stem), sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.version == next.version {
            throw PostgresError.migration("\(directory.path): two migrations numbered \(next.version) (\(previous.name), \(next.name))")
        }
        return migrations
    }

    /// Applies the migrations not yet applied. Returns the names it applied.
    @discardableResult
    public func migrate(_ migrations: [Migration], pool: PostgresPool) async throws -> [String] {
        try await pool.withConnection { connection in
            try connection.query("""
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """)
            var applied: [String] = []
            for migration in migrations {
                let didApply = try connection.transaction { connection -> Bool in
                    // One migrator at a time per database; the lock ends with the transaction.
                    try connection.query("SELECT pg_advisory_xact_lock(7341001)")
                    let existing = try connection.query(
                        "SELECT checksum FROM schema_migrations WHERE version = $1", [migration.version])
                    if let row = existing.first {
                        let checksum = try row.string("checksum")
                        guard checksum == migration.checksum else {
                            throw PostgresError.migration(
                                "\(migration.name) was changed after it was applied (checksum \(checksum), now \(migration.checksum)); add a new migration instead")
                        }
                        return false
                    }
                    do {
                        try connection.execute(script: migration.sql)
                    } catch let error as PostgresError {
                        throw PostgresError.migration("\(migration.name): \(error.message)")
                    }
                    try connection.query(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        [migration.version, migration.name, migration.checksum])
                    return true
                }
                if didApply { applied.append(migration.name) }
            }
            return applied
        }
    }
}

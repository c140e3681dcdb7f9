import Logging
import Messaging
import Postgres
import Testing
import TestSupport

/// Old published outbox rows and old inbox rows are deleted in batches; nothing else is.
@Suite struct MessageRetentionTests {
    @Test func deletesOnlyWhatOutlivedItsRetention() async throws {
        let name = TestInfrastructure.uniqueName("retention")
        let url = try await TestInfrastructure.createDatabase(name)
        do {
            try await deletesOnlyWhatOutlivedItsRetention(PostgresPool(conninfo: url, size: 1), name: name)
        } catch {
            await TestInfrastructure.dropDatabase(name)
            throw error
        }
        await TestInfrastructure.dropDatabase(name)
    }

    func deletesOnlyWhatOutlivedItsRetention(_ pool: PostgresPool, name: String) async throws {
        try await SchemaMigrations.apply(
            schemaDirectory: TestSystem.repositoryRoot.appendingPathComponent("schema"), database: "catalog",
            pool: pool, seed: false, migrator: PostgresMigrator())

        try await pool.query(
            """
            INSERT INTO outbox (message_id, exchange, routing_key, type, body, created_at, published_at)
            SELECT m, 'x', 'k', 't', '{}', now() - created, now() - published
            FROM unnest($1::text[], $2::interval[], $3::interval[]) AS r(m, created, published)
            """,
            [["old-1", "old-2", "old-3", "recent", "unpublished"],
             ["3 hours", "2 hours", "2 hours", "2 hours", "2 days"],
             ["3 hours", "2 hours", "61 minutes", "59 minutes", nil] as [String?]])
        try await pool.query(
            """
            INSERT INTO inbox (message_id, type, received_at)
            SELECT m, 't', now() - age FROM unnest($1::text[], $2::interval[]) AS r(m, age)
            """,
            [["old-1", "old-2", "old-3", "recent"], ["30 days", "8 days", "7 days 1 minute", "6 days 23 hours"]])

        // A batch of 2, so the 3 old rows of each table take two rounds.
        let retention = MessageRetention(pool: pool, batchSize: 2, logger: Logger(label: name))
        let pruned = try await retention.prune()
        #expect(pruned.outbox == 3)
        #expect(pruned.inbox == 3)
        #expect(try await pool.query("SELECT message_id FROM outbox ORDER BY id").map { try $0.string("message_id") } == ["recent", "unpublished"])
        #expect(try await pool.query("SELECT message_id FROM inbox").map { try $0.string("message_id") } == ["recent"])

        let again = try await retention.prune()
        #expect(again.outbox == 0 && again.inbox == 0)
    }
}

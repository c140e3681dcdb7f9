import Logging
import Messaging
import Postgres
import ServiceLifecycle
import Testing
import TestSupport

/// Old published outbox rows and old inbox rows are deleted in batches; nothing else is.
/// Runs as a service that stops promptly.
@Suite struct MessageRetentionTests {
    /// Runs `body` with a fresh, migrated database, then drops it.
    /// The default settings with `change` applied: tests pass settings as values.
    static func settings(_ change: (inout MessagingSettings) -> Void) -> MessagingSettings {
        var settings = MessagingSettings()
        change(&settings)
        return settings
    }

    func withDatabase(_ database: String = "catalog", _ body: (PostgresPool, String) async throws -> Void) async throws {
        let name = TestInfrastructure.uniqueName("retention")
        let url = try await TestInfrastructure.createDatabase(name)
        do {
            let pool = PostgresPool(conninfo: url, size: 1)
            try await SchemaMigrations.apply(
                schemaDirectory: TestSystem.repositoryRoot.appendingPathComponent("schema"), database: database,
                pool: pool, seed: false, migrator: PostgresMigrator())
            try await body(pool, name)
        } catch {
            await TestInfrastructure.dropDatabase(name)
            throw error
        }
        await TestInfrastructure.dropDatabase(name)
    }

    @Test func deletesOnlyWhatOutlivedItsRetention() async throws {
        try await withDatabase { pool, name in try await deletesOnlyWhatOutlivedItsRetention(pool, name: name) }
    }

    /// The order service's Idempotency-Keys expire after `retention.idempotencyKeys`, with the
    /// outbox and inbox rules alongside.
    @Test func idempotencyKeysAreForgottenAfterTheirRetention() async throws {
        try await withDatabase("order") { pool, name in
            try await pool.query(
                """
                INSERT INTO idempotency_keys (key, request, order_id, saga_id, created_at)
                SELECT k, '{}', gen_random_uuid(), gen_random_uuid(), now() - age FROM unnest($1::text[], $2::interval[]) AS r(k, age)
                """,
                [["two-days", "25-hours", "23-hours", "just-now"], ["2 days", "25 hours", "23 hours", "1 second"]])
            let settings = MessagingSettings()
            #expect(settings.idempotencyKeyRetention == .seconds(86_400), "the documented default is 24 h")
            let retention = MessageRetention(
                pool: pool, settings: Self.settings { $0.retentionBatchSize = 1 },
                also: [MessageRetention.Rule(table: "idempotency_keys", key: "owner, key", column: "created_at", retention: settings.idempotencyKeyRetention)],
                logger: Logger(label: name))
            let pruned = try await retention.prune()
            #expect(pruned.byTable["idempotency_keys"] == 2 && pruned.total == 2)
            #expect(try await pool.query("SELECT key FROM idempotency_keys ORDER BY key").map { try $0.string("key") } == ["23-hours", "just-now"])
        }
    }

    /// As a service: the first round runs at start, and shutdown ends the hour-long pause at once.
    @Test func serviceRunsARoundAtStartAndStopsWithoutWaitingOutItsPause() async throws {
        try await withDatabase { pool, name in
            try await pool.query("INSERT INTO inbox (message_id, type, received_at) VALUES ('old', 't', now() - interval '30 days')")
            let logger = Logger(label: name)
            let group = ServiceGroup(
                services: [MessageRetention(pool: pool, settings: Self.settings { $0.retentionInterval = .seconds(3600) }, logger: logger)], logger: logger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let pruned = await eventually(timeout: .seconds(20), interval: .milliseconds(50)) {
                    (try? await pool.query("SELECT count(*) AS n FROM inbox").first?.int("n")) == 0
                }
                #expect(pruned)
                await group.triggerGracefulShutdown()
                tasks.addTask {
                    try await Task.sleep(for: .seconds(10))
                    Issue.record("the service did not stop within 10 s of shutdown")
                }
                _ = try await tasks.next()  // whichever ends first: the service, or the 10 s
                tasks.cancelAll()
            }
        }
    }

    func deletesOnlyWhatOutlivedItsRetention(_ pool: PostgresPool, name: String) async throws {
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
        let retention = MessageRetention(pool: pool, settings: Self.settings { $0.retentionBatchSize = 2 }, logger: Logger(label: name))
        let pruned = try await retention.prune()
        #expect(pruned.outbox == 3)
        #expect(pruned.inbox == 3)
        #expect(try await pool.query("SELECT message_id FROM outbox ORDER BY id").map { try $0.string("message_id") } == ["recent", "unpublished"])
        #expect(try await pool.query("SELECT message_id FROM inbox").map { try $0.string("message_id") } == ["recent"])

        let again = try await retention.prune()
        #expect(again.outbox == 0 && again.inbox == 0)
    }
}

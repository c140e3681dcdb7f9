import Logging
import Postgres
import Retry
import ServiceLifecycle

/// Keeps a service's `outbox` and `inbox` (and the order service's Idempotency-Keys) from growing
/// without bound.
///
/// A published outbox row is kept for `outboxRetention` (to inspect what was sent), then deleted;
/// an unpublished one is never deleted. An inbox row only has to outlive every copy of its message
/// that can still arrive: a redelivery after a lost ack or a reconnect, or a relay publishing again
/// after a crash between the broker's confirm and its commit, all within minutes. A copy arriving
/// later still has no second effect, since every participant keeps a per-saga record of its effect
/// (``SagaEffectRecord``) and a saga ignores replies for steps it has moved past; so a week is ample.
/// Rows go in bounded batches, so a large backlog never holds a long transaction.
public struct MessageRetention: Service {
    /// One table whose rows go once `column` is older than `retention` (rows where it is NULL stay).
    public struct Rule: Sendable {
        public var table: String
        /// The primary key's columns, comma-separated (`owner, key`).
        public var key: String
        public var column: String
        public var retention: Duration

        public init(table: String, key: String, column: String, retention: Duration) {
            self.table = table
            self.key = key
            self.column = column
            self.retention = retention
        }
    }

    /// Rows deleted, by table.
    public struct Pruned: Sendable, Equatable {
        public var byTable: [String: Int] = [:]
        public var outbox: Int { byTable["outbox", default: 0] }
        public var inbox: Int { byTable["inbox", default: 0] }
        public var total: Int { byTable.values.reduce(0, +) }
    }

    let pool: PostgresPool
    let rules: [Rule]
    let batchSize: Int
    let logger: Logger
    private let loop: RoundLoop

    /// `settings`: the `retention.*` settings of ``OrderSagaSettings``. `also`: a service's own
    /// tables that expire the same way (the order service's Idempotency-Keys).
    public init(pool: PostgresPool, settings: MessagingSettings = MessagingSettings(), also: [Rule] = [], logger: Logger) {
        self.pool = pool
        self.rules = [
            Rule(table: "outbox", key: "id", column: "published_at", retention: settings.outboxRetention),
            Rule(table: "inbox", key: "message_id", column: "received_at", retention: settings.inboxRetention),
        ] + also
        self.batchSize = settings.retentionBatchSize
        self.logger = logger
        self.loop = RoundLoop(interval: settings.retentionInterval)
    }

    public func run() async throws {
        await loop.run("pruning \(rules.map(\.table).joined(separator: ", "))", logger: logger) {
            let batch = try await pruneBatch()
            if batch.total > 0 {
                logger.debug("pruned", metadata: batch.byTable.mapValues { "\($0)" })
            }
            return batch.byTable.values.contains(batchSize)
        }
    }

    /// Deletes everything past its retention, a batch at a time; returns how many rows of each table.
    @discardableResult
    public func prune() async throws -> Pruned {
        var total = Pruned()
        while true {
            let batch = try await pruneBatch()
            total.byTable.merge(batch.byTable, uniquingKeysWith: +)
            if !batch.byTable.values.contains(batchSize) { return total }
        }
    }

    /// Deletes up to one batch of each table.
    func pruneBatch() async throws -> Pruned {
        var pruned = Pruned()
        for rule in rules {
            pruned.byTable[rule.table] = try await pool.query(
                """
                WITH gone AS (
                    DELETE FROM \(rule.table) WHERE (\(rule.key)) IN (
                        SELECT \(rule.key) FROM \(rule.table) WHERE \(rule.column) < now() - make_interval(secs => $1) LIMIT $2)
                    RETURNING 1)
                SELECT count(*) AS n FROM gone
                """, [rule.retention.inSeconds, batchSize]
            ).first!.int("n")
        }
        return pruned
    }
}

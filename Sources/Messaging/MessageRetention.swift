import Logging
import Postgres
import Retry
import ServiceLifecycle

/// Keeps a service's `outbox` and `inbox` from growing without bound.
///
/// A published outbox row is kept for `outboxRetention` (to inspect what was sent), then deleted;
/// an unpublished one is never deleted. An inbox row only has to outlive every copy of its message
/// that can still arrive: a redelivery after a lost ack or a reconnect, or a relay publishing again
/// after a crash between the broker's confirm and its commit, all within minutes. A copy arriving
/// later still has no second effect, since every participant keeps a per-saga record of its effect
/// (``SagaEffectRecord``) and a saga ignores replies for steps it has moved past; so a week is ample.
/// Rows go in bounded batches, so a large backlog never holds a long transaction.
public struct MessageRetention: Service {
    let pool: PostgresPool
    let outboxRetention: Duration
    let inboxRetention: Duration
    let batchSize: Int
    let logger: Logger
    private let loop: RoundLoop

    /// `settings`: the `retention.*` settings of ``OrderSagaSettings``.
    public init(pool: PostgresPool, settings: MessagingSettings = MessagingSettings(), logger: Logger) {
        self.pool = pool
        self.outboxRetention = settings.outboxRetention
        self.inboxRetention = settings.inboxRetention
        self.batchSize = settings.retentionBatchSize
        self.logger = logger
        self.loop = RoundLoop(interval: settings.retentionInterval)
    }

    public func run() async throws {
        await loop.run("pruning outbox and inbox", logger: logger) {
            let batch = try await pruneBatch()
            if batch.outbox + batch.inbox > 0 {
                logger.debug("pruned messages", metadata: ["outbox": "\(batch.outbox)", "inbox": "\(batch.inbox)"])
            }
            return batch.outbox == batchSize || batch.inbox == batchSize
        }
    }

    /// Deletes everything past its retention, a batch at a time; returns how many rows of each.
    @discardableResult
    public func prune() async throws -> (outbox: Int, inbox: Int) {
        var total = (outbox: 0, inbox: 0)
        while true {
            let batch = try await pruneBatch()
            total.outbox += batch.outbox
            total.inbox += batch.inbox
            if batch.outbox < batchSize && batch.inbox < batchSize { return total }
        }
    }

    /// Deletes up to one batch of each table.
    func pruneBatch() async throws -> (outbox: Int, inbox: Int) {
        let outbox = try await delete(
            "SELECT id FROM outbox WHERE published_at < now() - make_interval(secs => $1) ORDER BY id LIMIT $2",
            from: "outbox", key: "id", olderThan: outboxRetention)
        let inbox = try await delete(
            "SELECT message_id FROM inbox WHERE received_at < now() - make_interval(secs => $1) LIMIT $2",
            from: "inbox", key: "message_id", olderThan: inboxRetention)
        return (outbox, inbox)
    }

    private func delete(_ select: String, from table: String, key: String, olderThan retention: Duration) async throws -> Int {
        try await pool.query(
            "WITH gone AS (DELETE FROM \(table) WHERE \(key) IN (\(select)) RETURNING 1) SELECT count(*) AS n FROM gone",
            [retention.inSeconds, batchSize]
        ).first!.int("n")
    }
}

import AMQP
import Foundation
import Logging
import Metrics
import Postgres
import ServiceLifecycle

/// Publishes what services wrote to their `outbox` table, in batches, with publisher confirms.
///
/// A row is marked published only after the broker confirmed it; a nack, a return (unroutable)
/// or a lost connection leaves it for the next round. The rows of a batch stay locked
/// (`FOR UPDATE SKIP LOCKED`) while their confirms are awaited, so several relays on one
/// database never publish the same row at the same time. A crash between the confirm and the
/// commit publishes the row again: consumers drop the copy by its message id.
///
/// The process that wrote rows wakes its relay after committing (``wake()``); the relay also
/// polls, for rows another process left behind (one that crashed before publishing). Not NOTIFY:
/// PostgreSQL serialises every committing transaction that notifies behind one cluster-wide
/// lock held through the WAL flush, which capped the whole system at 70 sagas/s.
/// Published rows are deleted later by ``MessageRetention``.
public struct OutboxRelay: Service {
    let pool: PostgresPool
    let connection: AMQPConnection
    let batchSize: Int
    let logger: Logger
    private let loop: RoundLoop
    /// How long a round's messages took from publish to the broker's confirms (swift-metrics).
    private let publishLatency = Metrics.Timer(label: "ordersaga_outbox_publish_seconds")

    /// `settings`: ``MessagingSettings/relayBatchSize`` and ``MessagingSettings/relayPollInterval``.
    public init(pool: PostgresPool, connection: AMQPConnection, settings: MessagingSettings = MessagingSettings(), logger: Logger) {
        self.pool = pool
        self.connection = connection
        self.batchSize = settings.relayBatchSize
        self.logger = logger
        self.loop = RoundLoop(interval: settings.relayPollInterval)
    }

    /// Tells the relay that a transaction that wrote to the outbox has committed.
    public func wake() {
        loop.wake()
    }

    public func run() async throws {
        await loop.run("outbox relay round", logger: logger) {
            try await publishBatch() == batchSize  // a full batch: more may be waiting
        }
    }

    /// Publishes up to `batchSize` unpublished rows; returns how many the broker confirmed.
    func publishBatch() async throws -> Int {
        try await pool.withSession { session in
            try await session.transaction { session in
                let rows = try await session.run { [batchSize] connection in
                    try connection.query(
                        """
                        SELECT id, message_id, exchange, routing_key, type, correlation_id, reply_to, headers::text AS headers, body, mandatory
                        FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
                        """, [batchSize])
                }
                var ids: [Int64] = []
                var messages: [AMQPOutgoingMessage] = []
                let now = Date()
                for row in rows {
                    ids.append(Int64(try row.int("id")))
                    messages.append(try Self.message(from: row, at: now))
                }
                let publishing = ContinuousClock.now
                let results = await publishWithCrashPoints(messages)
                if !messages.isEmpty { publishLatency.record(duration: ContinuousClock.now - publishing) }
                var published: [Int64] = []
                var failed: [Int64] = []
                var errors: [String] = []
                for (id, result) in zip(ids, results) {
                    switch result {
                    case .success: published.append(id)
                    case .failure(let error):
                        failed.append(id)
                        errors.append(error.description)
                    }
                }
                try await session.run { [published, failed, errors] connection in
                    if !published.isEmpty {
                        try connection.query("UPDATE outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])", [published])
                    }
                    if !failed.isEmpty {
                        try connection.query(
                            """
                            UPDATE outbox SET attempts = attempts + 1, last_error = f.error
                            FROM unnest($1::bigint[], $2::text[]) AS f(id, error) WHERE outbox.id = f.id
                            """, [failed, errors])
                    }
                }
                if let first = errors.first {
                    logger.warning("outbox rows not published; they will be retried", metadata: ["count": "\(failed.count)", "error": "\(first)"])
                }
                return published.count
            }
        }
    }

    /// Publishes and waits for the confirms, passing the relay's crash points.
    private func publishWithCrashPoints(_ messages: [AMQPOutgoingMessage]) async -> [Result<Void, AMQPError>] {
        guard !messages.isEmpty else { return [] }
        let results: [Result<Void, AMQPError>]
        if CrashPoint.relayConfirmWait.isArmed {
            async let confirmed = connection.publish(messages)
            try? await Task.sleep(for: .milliseconds(5))  // let the batch reach the socket first
            CrashPoint.relayConfirmWait.reach()
            results = await confirmed
        } else {
            results = await connection.publish(messages)
        }
        CrashPoint.relayAfterPublish.reach()
        return results
    }

    /// The message an outbox row holds, as the relay publishes it (`saga-chaos` republishes one as a duplicate).
    public static func message(from row: PostgresRow, at now: Date) throws -> AMQPOutgoingMessage {
        let headers = try row.json("headers", as: [String: Outbox.HeaderJSON].self).mapValues(\.value)
        return AMQPOutgoingMessage(
            exchange: try row.string("exchange"),
            routingKey: try row.string("routing_key"),
            body: Array(try row.string("body").utf8),
            properties: AMQPProperties(
                messageID: try row.string("message_id"),
                correlationID: try row.optionalString("correlation_id"),
                type: try row.string("type"),
                contentType: "application/json",
                replyTo: try row.optionalString("reply_to"),
                timestamp: now,
                headers: headers),
            mandatory: try row.bool("mandatory"))
    }
}

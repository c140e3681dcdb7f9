import AMQP
import Foundation
import Logging
import Metrics
import Postgres
import ServiceLifecycle
import Synchronization

/// Publishes what services wrote to their `outbox` table, in batches, with publisher confirms.
///
/// The process that wrote rows hands their messages over right after its commit
/// (``committed(_:)``): the relay publishes them from memory and then marks their rows published
/// in one statement, without reading them back. It also polls the table (at its first round, then
/// every `relay.pollInterval`) for rows nobody handed over: those of a process that crashed between
/// its commit and the confirm, that were not confirmed, or that did not fit in memory. A poll
/// leaves alone the rows this relay holds in memory and rows younger than ``pollGrace``, which
/// their own process is publishing.
///
/// A row is marked published only after the broker confirmed it; a nack, a return (unroutable)
/// or a lost connection leaves it for a poll. The rows a poll takes stay locked
/// (`FOR UPDATE SKIP LOCKED`) while their confirms are awaited, so several relays on one
/// database never publish the same polled row at the same time. A crash between the confirm and
/// the mark publishes the row again: consumers drop the copy by its message id.
///
/// Not NOTIFY: PostgreSQL serialises every committing transaction that notifies behind one
/// cluster-wide lock held through the WAL flush, which capped the whole system at 70 sagas/s.
/// Published rows are deleted later by ``MessageRetention``.
public struct OutboxRelay: Service {
    let pool: PostgresPool
    let connection: AMQPConnection
    let batchSize: Int
    let logger: Logger
    private let loop: RoundLoop
    private let handover: Handover
    /// The thread of the relay's own connection, which it runs on (``PostgresPool/dedicatedExecutors(upTo:)``).
    private let executor: (any TaskExecutor)?
    /// How long a round's messages took from publish to the broker's confirms (swift-metrics).
    private let publishLatency = Metrics.Timer(label: "ordersaga_outbox_publish_seconds")
    /// A poll takes only rows at least this old: younger ones are being published from memory by
    /// the process that wrote them (another instance's, which this relay cannot see).
    static let pollGrace = "2 seconds"

    /// `settings`: ``MessagingSettings/relayBatchSize`` and ``MessagingSettings/relayPollInterval``.
    public init(pool: PostgresPool, connection: AMQPConnection, settings: MessagingSettings = MessagingSettings(), logger: Logger) {
        self.pool = pool
        self.connection = connection
        self.batchSize = settings.relayBatchSize
        self.logger = logger
        self.loop = RoundLoop(interval: settings.relayPollInterval)
        self.handover = Handover(pollInterval: settings.relayPollInterval, capacity: 10 * settings.relayBatchSize)
        self.executor = pool.dedicatedExecutors(upTo: 1).first
    }

    /// Hands over the messages of a transaction that has committed, to be published from memory.
    public func committed(_ messages: [OutboxMessage]) {
        guard !messages.isEmpty else { return }
        handover.add(messages)
        loop.wake()
    }

    public func run() async throws {
        await withTaskExecutorPreference(executor) { await rounds() }
    }

    private func rounds() async {
        await loop.run("outbox relay round", logger: logger) {
            let round = handover.take(batchSize)
            var more = round.more
            if !round.messages.isEmpty { try await publishCommitted(round.messages) }
            if round.poll {
                more = try await publishBatch() == batchSize || more
                handover.polled()
            }
            return more
        }
    }

    /// Publishes messages handed over after their commit and marks their rows published, in one
    /// statement; what the broker did not confirm is left to a poll.
    func publishCommitted(_ messages: [OutboxMessage]) async throws {
        defer { handover.finished(messages) }
        let now = Date()
        let publishing = ContinuousClock.now
        let results = await publishWithCrashPoints(messages.map { $0.outgoing(at: now) })
        publishLatency.record(duration: ContinuousClock.now - publishing)
        var published: [String] = []
        var firstError: AMQPError?
        for (message, result) in zip(messages, results) {
            switch result {
            case .success: published.append(message.messageID)
            case .failure(let error): firstError = firstError ?? error
            }
        }
        if let firstError {
            logger.warning("outbox messages not published; a poll will retry them", metadata: [
                "count": "\(messages.count - published.count)", "error": "\(firstError)",
            ])
        }
        guard !published.isEmpty else { return }
        try await pool.query("UPDATE outbox SET published_at = clock_timestamp() WHERE message_id = ANY($1::text[]) AND published_at IS NULL", [published])
    }

    /// Publishes up to `batchSize` unpublished rows nobody handed over; returns how many the broker confirmed.
    func publishBatch() async throws -> Int {
        let inMemory = handover.inMemory
        return try await pool.withSession { session in
            try await session.transaction { session in
                let rows = try await session.run { [batchSize] connection in
                    try connection.query(
                        """
                        SELECT id, message_id, exchange, routing_key, type, correlation_id, reply_to, headers::text AS headers, body, mandatory
                        FROM outbox WHERE published_at IS NULL AND created_at < now() - interval '\(Self.pollGrace)'
                          AND NOT (message_id = ANY($2::text[]))
                        ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
                        """, [batchSize, inMemory])
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
        OutboxMessage(
            messageID: try row.string("message_id"), exchange: try row.string("exchange"), routingKey: try row.string("routing_key"),
            type: try row.string("type"), correlationID: try row.optionalString("correlation_id"), replyTo: try row.optionalString("reply_to"),
            mandatory: try row.bool("mandatory"),
            headers: try row.json("headers", as: [String: Outbox.HeaderJSON].self).mapValues(\.value), body: try row.string("body")
        ).outgoing(at: now)
    }
}

extension OutboxRelay {
    /// The messages handed over after their commits and not yet published, and when to poll.
    /// At most `capacity` wait: past that (a broker slow to confirm) the rest are left to the
    /// clock's poll once they pass ``OutboxRelay/pollGrace``, so memory stays bounded.
    final class Handover: Sendable {
        private struct State {
            var waiting: [OutboxMessage] = []
            /// Handed over and not yet marked published: a poll leaves their rows alone.
            var inMemory: Set<String> = []
            var lastPoll: ContinuousClock.Instant?
        }

        private let state = Mutex(State())
        private let pollInterval: Duration
        private let capacity: Int

        init(pollInterval: Duration, capacity: Int) {
            self.pollInterval = pollInterval
            self.capacity = capacity
        }

        func add(_ messages: [OutboxMessage]) {
            state.withLock { state in
                let kept = messages.prefix(max(0, capacity - state.waiting.count))
                state.waiting.append(contentsOf: kept)
                for message in kept { state.inMemory.insert(message.messageID) }
            }
        }

        /// Up to `limit` waiting messages, whether more are waiting, and whether a poll is due
        /// (the first, or `pollInterval` since the last that worked).
        func take(_ limit: Int) -> (messages: [OutboxMessage], more: Bool, poll: Bool) {
            let now = ContinuousClock.now
            return state.withLock { state in
                let messages = Array(state.waiting.prefix(limit))
                state.waiting.removeFirst(messages.count)
                let poll = state.lastPoll.map { now - $0 >= pollInterval } ?? true
                return (messages, !state.waiting.isEmpty, poll)
            }
        }

        /// A poll worked. Until one does, every round polls again: in a database outage each
        /// round then fails, so the relay's loop backs off and logs the outage once, not a line
        /// each time a poll falls due between rounds that did nothing.
        func polled() {
            let now = ContinuousClock.now
            state.withLock { $0.lastPoll = now }
        }

        /// Their rows are marked published, or left to a poll.
        func finished(_ messages: [OutboxMessage]) {
            state.withLock { state in
                for message in messages { state.inMemory.remove(message.messageID) }
            }
        }

        var inMemory: [String] {
            state.withLock { Array($0.inMemory) }
        }
    }
}

import AMQP
import Foundation
import Logging
import Postgres
import ServiceLifecycle

/// A participant's business logic: runs inside the transaction that records the command in the
/// inbox and writes the reply to the outbox, so effect, dedup and reply commit together.
public protocol CommandHandler: Sendable {
    /// The command types it handles; any other type is dead-lettered.
    var commandTypes: Set<String> { get }
    func handle(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome
    /// Handles one event of the participant's subscriptions (``SagaTopology/subscriptions``), in
    /// the transaction that records it in the inbox.
    func handleEvent(_ delivery: AMQPDelivery, in transaction: PostgresConnection) throws
    /// Before several commands are handled in one transaction (group commit): locks, in one fixed
    /// order, the shared rows they will change (products, coupons, carts), so two transactions
    /// that change the same rows wait for each other instead of deadlocking. A single command's
    /// handler locks its own rows in that same order.
    func lockShared(by commands: [IncomingCommand], in transaction: PostgresConnection) throws
}

extension CommandHandler {
    public func handleEvent(_ delivery: AMQPDelivery, in transaction: PostgresConnection) throws {}
    public func lockShared(by commands: [IncomingCommand], in transaction: PostgresConnection) throws {}
}

/// How a worker process connects and what it tunes (``OrderSagaSettings``).
public struct WorkerConfiguration: Sendable {
    /// `catalog`, `promotion`, …: its queue is `<participant>.commands`.
    public var participant: String
    public var postgresURL: String
    public var amqp: AMQPConfiguration
    public var poolSize: Int
    public var messaging: MessagingSettings

    public init(
        participant: String, postgresURL: String, amqp: AMQPConfiguration,
        poolSize: Int = OrderSagaSettings.workerPoolSize.defaultValue, messaging: MessagingSettings = MessagingSettings()
    ) {
        self.participant = participant
        self.postgresURL = postgresURL
        self.amqp = amqp
        self.poolSize = poolSize
        self.messaging = messaging
    }
}

/// What a worker tells its metrics as it goes (``CommandWorker/build(configuration:handler:logger:events:)``).
public struct WorkerEvents: Sendable {
    /// A command or event of `type` was handled, or dropped as a copy already handled.
    public var handled: @Sendable (_ type: String, _ duplicate: Bool) -> Void
    /// One transaction handled `size` messages together.
    public var batch: @Sendable (_ size: Int) -> Void
    /// A message of `queue` went to its dead-letter queue.
    public var deadLettered: @Sendable (_ queue: String) -> Void

    public init(
        handled: @escaping @Sendable (String, Bool) -> Void = { _, _ in }, batch: @escaping @Sendable (Int) -> Void = { _ in },
        deadLettered: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.handled = handled
        self.batch = batch
        self.deadLettered = deadLettered
    }
}

/// A worker's services and the connections they share, for what watches them (`/ready`).
public struct WorkerRuntime: Sendable {
    public let services: [any Service]
    public let pool: PostgresPool
    public let connection: AMQPConnection
}

/// Everything a worker process runs: its broker connection, the consumer of its command queue,
/// the relay of its outbox and the pruning of its outbox and inbox, as Services in start-up order.
public enum CommandWorker {
    public static func services(configuration: WorkerConfiguration, handler: any CommandHandler, logger: Logger) -> [any Service] {
        build(configuration: configuration, handler: handler, logger: logger).services
    }

    public static func build(
        configuration: WorkerConfiguration, handler: any CommandHandler, logger: Logger, events: WorkerEvents = WorkerEvents()
    ) -> WorkerRuntime {
        let pool = PostgresPool(conninfo: configuration.postgresURL, size: configuration.poolSize, label: configuration.participant)
        let queues = [SagaTopology.commandQueue(configuration.participant)] + SagaTopology.eventQueues(of: configuration.participant)
        let settings = configuration.messaging
        var amqp = configuration.amqp
        amqp.connectionName = amqp.connectionName ?? "\(configuration.participant) worker"
        let connection = AMQPConnection(
            configuration: amqp, topology: SagaTopology.forParticipant(configuration.participant),
            consumers: queues.map { AMQPConsumer(queue: $0, prefetch: settings.prefetch) }, logger: logger)
        let commandQueue = SagaTopology.commandQueue(configuration.participant)
        let relay = OutboxRelay(pool: pool, connection: connection, settings: settings, logger: logger)
        let consumer = MessageConsumer(
            connection: connection, concurrency: settings.concurrency, maxAttempts: settings.attempts, logger: logger,
            deadLettered: events.deadLettered, batchSize: settings.batchSize,
            executors: pool.dedicatedExecutors(upTo: settings.concurrency),
            batchHandler: { deliveries in
                relay.committed(try await process(deliveries, participant: configuration.participant, handler: handler, pool: pool, events: events))
                events.batch(deliveries.count)
            }
        ) { delivery in
            if delivery.queue == commandQueue {
                relay.committed(try await process(delivery, participant: configuration.participant, handler: handler, pool: pool, events: events))
            } else {
                try await processEvent(delivery, handler: handler, pool: pool, events: events)
            }
            events.batch(1)
        }
        let services: [any Service] = [
            AMQPConnectionService(connection), relay, consumer, MessageRetention(pool: pool, settings: settings, logger: logger),
        ]
        return WorkerRuntime(services: services, pool: pool, connection: connection)
    }

    /// One command: dedup, effect and reply in one transaction; a copy does nothing.
    /// Returns the reply it wrote to the outbox, if it wrote one.
    static func process(
        _ delivery: AMQPDelivery, participant: String, handler: any CommandHandler, pool: PostgresPool, events: WorkerEvents
    ) async throws -> [OutboxMessage] {
        let command = try IncomingCommand(delivery)
        guard handler.commandTypes.contains(command.type) else {
            throw MalformedMessage("unknown command type \(command.type)")
        }
        let span = MessageTracing.handling(command, participant: participant)
        defer { span.end() }
        let traceparent = MessageTracing.traceparent(of: span, or: command.traceparent)
        do {
            let written = try await pool.transaction { transaction -> [OutboxMessage] in
                guard try Inbox.claim(command.messageID, type: command.type, on: transaction) else { return [] }
                let outcome = try handler.handle(command, in: transaction)
                let reply = [try SagaMessages.reply(to: command, outcome: outcome, traceparent: traceparent)]
                try Outbox.insert(reply, on: transaction)
                return reply
            }
            if span.isRecording { span.attributes["saga.duplicate"] = written.isEmpty }
            events.handled(command.type, written.isEmpty)
            return written
        } catch {
            span.recordError(error)
            throw error
        }
    }

    /// Several commands and events in one transaction (group commit): the inbox claims in one
    /// statement, the shared rows locked in order, then each new message's effect and reply.
    /// Throws when any of them cannot be handled, with nothing written: the consumer then handles
    /// them one by one. Returns the replies it wrote to the outbox.
    static func process(
        _ deliveries: [AMQPDelivery], participant: String, handler: any CommandHandler, pool: PostgresPool, events observer: WorkerEvents
    ) async throws -> [OutboxMessage] {
        var commands: [IncomingCommand] = []
        var events: [(id: String, type: String, delivery: AMQPDelivery)] = []
        for delivery in deliveries {
            if delivery.queue == SagaTopology.commandQueue(participant) {
                let command = try IncomingCommand(delivery)
                guard handler.commandTypes.contains(command.type) else { throw MalformedMessage("unknown command type \(command.type)") }
                commands.append(command)
            } else {
                guard let id = delivery.properties.messageID, let type = delivery.properties.type else {
                    throw MalformedMessage("event without message_id or type")
                }
                events.append((id, type, delivery))
            }
        }
        // One span per command; a batch that fails ends them with its error, and each command
        // then gets a span of its own when it is handled alone.
        let spans = commands.map { MessageTracing.handling($0, participant: participant) }
        defer { for span in spans { span.end() } }
        let traceparents = zip(commands, spans).map { command, span in MessageTracing.traceparent(of: span, or: command.traceparent) }
        let handled: Set<String>
        let replies: [OutboxMessage]
        do {
            (handled, replies) = try await pool.transaction { [commands, events] transaction -> (Set<String>, [OutboxMessage]) in
                let claimed = try Inbox.claim(commands.map { ($0.messageID, $0.type) } + events.map { ($0.id, $0.type) }, on: transaction)
                var unhandled = claimed
                let fresh = zip(commands, traceparents).filter { command, _ in unhandled.remove(command.messageID) != nil }
                try handler.lockShared(by: fresh.map(\.0), in: transaction)
                let replies = try fresh.map { command, traceparent in
                    try SagaMessages.reply(to: command, outcome: try handler.handle(command, in: transaction), traceparent: traceparent)
                }
                for event in events where unhandled.remove(event.id) != nil { try handler.handleEvent(event.delivery, in: transaction) }
                try Outbox.insert(replies, on: transaction)
                return (claimed, replies)
            }
        } catch {
            for span in spans { span.recordError(error) }
            throw error
        }
        // A message given twice in one batch is handled once and dropped once.
        var counted = handled
        for (command, span) in zip(commands, spans) {
            let duplicate = counted.remove(command.messageID) == nil
            if span.isRecording { span.attributes["saga.duplicate"] = duplicate }
            observer.handled(command.type, duplicate)
        }
        for event in events { observer.handled(event.type, counted.remove(event.id) == nil) }
        return replies
    }

    static func processEvent(_ delivery: AMQPDelivery, handler: any CommandHandler, pool: PostgresPool, events: WorkerEvents) async throws {
        guard let messageID = delivery.properties.messageID, let type = delivery.properties.type else {
            throw MalformedMessage("event without message_id or type")
        }
        let handled = try await pool.transaction { transaction in
            guard try Inbox.claim(messageID, type: type, on: transaction) else { return false }
            try handler.handleEvent(delivery, in: transaction)
            return true
        }
        events.handled(type, !handled)
    }
}

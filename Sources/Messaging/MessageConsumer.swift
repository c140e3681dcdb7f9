import Foundation
import AMQP
import Logging
import Postgres
import Retry
import ServiceLifecycle
import Synchronization

/// A message that can never be processed (not JSON, missing properties): it goes straight to its
/// queue's dead-letter queue instead of being retried.
public struct MalformedMessage: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs a handler for each delivery of a connection, several at once, and acks after the handler
/// returned (its transaction committed).
///
/// A handler that throws is retried with backoff, up to `maxAttempts`; a ``MalformedMessage`` at
/// once. Then the message goes to its dead-letter queue, carrying why (``DeadLetterHeaders``): it
/// never blocks the ones behind it.
/// A failure that is not the message's fault (the database is unreachable, a deadlock or
/// serialization failure) is retried without limit, so an outage dead-letters nothing.
/// On graceful shutdown it stops taking deliveries and lets the ones in flight finish; one still
/// waiting for the database is left unacked, and the broker delivers it again.
///
/// Group commit: with a `batchHandler`, a handler that is free takes every delivery that arrived
/// meanwhile (up to `batchSize`) and handles them together, in one transaction, acking them after
/// it committed. When that fails for any reason, each message of the batch is handled alone as
/// above, so one bad message costs its batch a retry, never its neighbours' effect.
///
/// Handler tasks given a connection's thread (`executors`, from
/// ``PostgresPool/dedicatedExecutors(upTo:)``) run there and take deliveries before the others, so
/// under light load the work goes where statements need no thread hop.
public struct MessageConsumer: Service {
    public typealias Handler = @Sendable (AMQPDelivery) async throws -> Void
    public typealias BatchHandler = @Sendable ([AMQPDelivery]) async throws -> Void

    let connection: AMQPConnection
    let concurrency: Int
    /// How a message that failed is retried before it is dead-lettered.
    let retry: RetryPolicy
    /// How a message is retried while the infrastructure is down: without limit.
    let outageRetry = RetryPolicy.unlimited(backoffMilliseconds: 100, maxDelayMilliseconds: 5000)
    /// Outage failures in a row across every message in flight, so an outage logs a line now and
    /// then, not one per message per retry.
    let outages = Outages()
    let logger: Logger
    /// Told the queue of each message sent to its dead-letter queue (a metric counts them).
    let deadLettered: @Sendable (String) -> Void
    let handler: Handler
    /// The most deliveries one `batchHandler` call takes.
    let batchSize: Int
    let batchHandler: BatchHandler?
    /// Threads the handler tasks run on, one each, as far as they go (``PostgresPool/dedicatedExecutors(upTo:)``).
    let executors: [any TaskExecutor]

    public init(
        connection: AMQPConnection, concurrency: Int = 8, maxAttempts: Int = 5, logger: Logger,
        deadLettered: @escaping @Sendable (String) -> Void = { _ in }, batchSize: Int = 1,
        executors: [any TaskExecutor] = [], batchHandler: BatchHandler? = nil, handler: @escaping Handler
    ) {
        self.connection = connection
        self.executors = executors
        self.concurrency = concurrency
        self.batchSize = batchHandler == nil ? 1 : max(1, batchSize)
        self.batchHandler = batchHandler
        self.retry = RetryPolicy(attempts: maxAttempts, backoffMilliseconds: 100, maxDelayMilliseconds: 3200, jitter: 0.2)
        self.logger = logger
        self.deadLettered = deadLettered
        self.handler = handler
    }

    final class Outages: Sendable {
        let log = Mutex(FailureLog(every: 50))
    }

    public func run() async throws {
        let buffer = DeliveryBuffer<AMQPDelivery>()
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<concurrency {
                // A handler with a thread of its own gets the deliveries first: its statements run without a hop.
                let executor = index < executors.count ? executors[index] : nil
                group.addTask(executorPreference: executor) {
                    while let batch = await buffer.take(upTo: batchSize, preferred: executor != nil) { await process(batch) }
                }
            }
            for await delivery in connection.deliveries.cancelOnGracefulShutdown() { buffer.append(delivery) }
            buffer.finish()
            await group.waitForAll()
        }
    }

    /// Several deliveries in one handler call when there is a batch handler; one by one when
    /// there is none, or that call failed.
    func process(_ batch: [AMQPDelivery]) async {
        if batch.count > 1, let batchHandler {
            do {
                try await batchHandler(batch)
                CrashPoint.consumerBeforeAck.reach()
                for delivery in batch { connection.ack(delivery) }
                handled()
                return
            } catch {
                logger.debug("a batch failed; handling its messages one by one", metadata: [
                    "count": "\(batch.count)", "error": "\(error)",
                ])
            }
        }
        for delivery in batch { await process(delivery) }
    }

    /// After a message was handled: ends an outage's warnings with one line.
    private func handled() {
        let ended = outages.log.withLock { $0.failures > 0 ? $0.succeeded() : 0 }
        if ended > 0 { logger.notice("handling works again", metadata: ["failures": "\(ended)"]) }
    }

    func process(_ delivery: AMQPDelivery) async {
        var attempt = 1
        var outageAttempt = 0
        while true {
            do {
                try await handler(delivery)
                CrashPoint.consumerBeforeAck.reach()
                connection.ack(delivery)
                handled()
                return
            } catch let error as MalformedMessage {
                await deadLetter(delivery, because: error.description, attempts: attempt)
                return
            } catch where Self.isTransient(error) {
                if Task.isShuttingDownGracefully || Task.isCancelled { return }
                outageAttempt += 1
                let (log, failures) = outages.log.withLock { log in (log.failed(), log.failures) }
                if log {
                    logger.warning(
                        "handler failed for a reason outside the message; retrying",
                        metadata: delivery.properties.logMetadata.merging(["error": "\(error)", "failures": "\(failures)"]) { $1 })
                }
                try? await Task.sleep(for: outageRetry.delay(afterAttempt: outageAttempt))
            } catch {
                if attempt >= retry.attempts {
                    await deadLetter(delivery, because: "\(error)", attempts: attempt)
                    return
                }
                logger.debug("handler failed; retrying", metadata: delivery.properties.logMetadata.merging(["error": "\(error)"]) { $1 })
                try? await Task.sleep(for: retry.delay(afterAttempt: attempt))
                attempt += 1
            }
        }
    }

    /// Errors of the infrastructure rather than of the message: retried until they pass.
    static func isTransient(_ error: any Error) -> Bool {
        guard let error = error as? PostgresError else { return false }
        // 40001 serialization failure, 40P01 deadlock: the transaction may simply run again.
        return error.isConnectionError || error.sqlState == "40001" || error.sqlState == "40P01"
    }

    /// Publishes a copy of the message with why it failed to its dead-letter queue, then acks it.
    /// A copy the broker does not confirm (it is going away) falls back to a plain reject, which
    /// the broker dead-letters itself (`x-death`, without the error). A crash between the confirm
    /// and the ack dead-letters it twice: a replay of both is harmless, the inbox drops the second.
    func deadLetter(_ delivery: AMQPDelivery, because reason: String, attempts: Int) async {
        logger.error("message sent to dead-letter queue", metadata: delivery.properties.logMetadata.merging([
            "queue": "\(delivery.queue)", "reason": "\(reason)", "attempts": "\(attempts)",
        ]) { $1 })
        var properties = delivery.properties
        DeadLetterHeaders(error: reason, attempts: attempts, queue: delivery.queue, at: Date()).write(into: &properties.headers)
        let copy = AMQPOutgoingMessage(
            exchange: SagaTopology.deadLetterExchange, routingKey: SagaTopology.deadLetterQueue(delivery.queue),
            body: delivery.body, properties: properties, mandatory: true)
        do {
            try await connection.publish(copy)
            connection.ack(delivery)
        } catch {
            logger.warning(
                "could not publish to the dead-letter queue with the error; rejecting it instead",
                metadata: delivery.properties.logMetadata.merging(["error": "\(error)"]) { $1 })
            connection.reject(delivery, requeue: false)
        }
        deadLettered(delivery.queue)
    }
}

/// Runs an ``AMQPConnection`` as a Service: it closes once every service after it in the group
/// (its consumers and relay) has shut down, or at once when the group is cancelled because a
/// service failed (a port in use), so the process exits with that error instead of hanging.
public struct AMQPConnectionService: Service {
    let connection: AMQPConnection
    public init(_ connection: AMQPConnection) { self.connection = connection }

    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await connection.run()
            } onGracefulShutdown: {
                connection.stop()
            }
        } onCancel: {
            connection.stop()
        }
    }
}

import AMQP
import Foundation
import Logging
import Messaging
import Provisioning
import Synchronization

/// The dead-letter queues of one vhost, as an operator sees and mends them: counted and purged
/// through AMQP (exact figures; the management API's lag by seconds), read through RabbitMQ's
/// management API (a look puts each message back where it was), replayed through AMQP with
/// publisher confirms (a message leaves its dead-letter queue only after the broker took the copy
/// sent back). Acts as the RabbitMQ administrator.
public struct DeadLetterQueues: Sendable {
    public let management: RabbitMQManagement
    /// The administrator's connection to the vhost, for replays.
    public let amqp: AMQPConfiguration

    public init(managementURL: String, amqp: AMQPConfiguration) {
        self.management = RabbitMQManagement(baseURL: managementURL, user: amqp.user, password: amqp.password)
        self.amqp = amqp
    }

    private var vhost: String { RabbitMQManagement.encoded(amqp.vhost) }

    /// How many messages each dead-letter queue holds now, in topology order.
    public func depths() async throws -> [(queue: String, messages: Int)] {
        let queues = SagaTopology.deadLetterQueues
        let counts = try await AMQPConnection.messageCounts(of: queues, configuration: amqp)
        return Array(zip(queues, counts)).map { (queue: $0.0, messages: $0.1) }
    }

    /// Up to `limit` messages of `queue`, oldest first, left in the queue.
    public func peek(_ queue: String, limit: Int) async throws -> [DeadLetter] {
        try Self.check(queue)
        let data = try await management.request(
            "POST", "/api/queues/\(vhost)/\(RabbitMQManagement.encoded(queue))/get",
            body: ["count": limit, "ackmode": "ack_requeue_true", "encoding": "auto", "truncate": 1_000_000])
        let messages = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
        return messages.map { DeadLetter(queue: queue, management: $0) }
    }

    /// What a replay did.
    public struct Replay: Sendable, Equatable {
        /// Sent back to their queues, then removed from the dead-letter queue.
        public var replayed: [String]
        /// Looked at and left where they were (not asked for).
        public var left: Int
    }

    /// Sends the messages of `queue` whose id is in `ids` (every message when `nil`) back to the
    /// queue they came from, without the dead-letter headers, and removes each only once the
    /// broker confirmed its copy. Looks at the messages the queue held when it began, at most
    /// `limit`. Repeating it is harmless: a consumer's inbox drops a message it already handled.
    public func replay(_ queue: String, ids: Set<String>?, limit: Int = 10_000, logger: Logger) async throws -> Replay {
        try Self.check(queue)
        let count = min(try await AMQPConnection.messageCounts(of: [queue], configuration: amqp)[0], limit)
        guard count > 0 else { return Replay(replayed: [], left: 0) }
        let connection = AMQPConnection(
            configuration: amqp, consumers: [AMQPConsumer(queue: queue, prefetch: UInt16(min(count, Int(UInt16.max))))], logger: logger)
        let received = Received()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await connection.run() }
            group.addTask {
                for await delivery in connection.deliveries { received.deliveries.withLock { $0.append(delivery) } }
            }
            defer {
                connection.stop()  // what was not acked goes back to the queue as it was
                group.cancelAll()
            }
            await connection.waitUntilConnected()
            var report = Replay(replayed: [], left: 0)
            var seen = 0
            var quietSince = ContinuousClock.now
            // The broker sends the `count` messages at once (prefetch); a few quiet seconds mean
            // someone else took the rest.
            while seen < count, ContinuousClock.now - quietSince < .seconds(5) {
                let batch = received.deliveries.withLock { deliveries in
                    defer { deliveries = [] }
                    return deliveries
                }
                if batch.isEmpty {
                    try await Task.sleep(for: .milliseconds(20))
                    continue
                }
                quietSince = ContinuousClock.now
                for delivery in batch {
                    seen += 1
                    let id = delivery.properties.messageID ?? ""
                    guard ids?.contains(id) ?? true else {
                        report.left += 1
                        continue
                    }
                    var properties = delivery.properties
                    for header in DeadLetterHeaders.all { properties.headers[header] = nil }
                    let original = DeadLetterHeaders(delivery.properties.headers)?.queue ?? SagaTopology.originalQueue(ofDeadLetterQueue: queue)
                    try await connection.publish(AMQPOutgoingMessage(exchange: "", routingKey: original, body: delivery.body, properties: properties))
                    connection.ack(delivery)
                    report.replayed.append(id)
                }
            }
            return report
        }
    }

    /// Empties `queue`; returns how many messages it held just before.
    @discardableResult
    public func purge(_ queue: String) async throws -> Int {
        try Self.check(queue)
        return try await AMQPConnection.purge(queue, configuration: amqp)
    }

    /// Only the topology's dead-letter queues: a typo never replays or purges a work queue.
    static func check(_ queue: String) throws {
        guard SagaTopology.deadLetterQueues.contains(queue) else {
            throw DeadLetterError("\"\(queue)\" is not a dead-letter queue; one of: \(SagaTopology.deadLetterQueues.joined(separator: ", "))")
        }
    }
}

/// Deliveries read from the stream, waiting for the replay loop.
private final class Received: Sendable {
    let deliveries = Mutex<[AMQPDelivery]>([])
}

/// A dead-letter operation that cannot be done; says why.
public struct DeadLetterError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

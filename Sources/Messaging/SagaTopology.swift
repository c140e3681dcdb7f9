import AMQP

/// The RabbitMQ topology of DESIGN.md, in vhost `ordersaga`: every service declares all of it on
/// connect (declarations are idempotent), so start-up order does not matter.
public enum SagaTopology {
    public static let commandsExchange = "ordersaga.commands"
    public static let repliesExchange = "ordersaga.replies"
    public static let eventsExchange = "ordersaga.events"
    public static let deadLetterExchange = "ordersaga.dead-letter"
    /// The order service's reply queue; also the routing key replies are published with.
    public static let repliesQueue = "order-service.replies"
    /// The five workers, each consuming `<participant>.commands`.
    public static let participants = ["catalog", "promotion", "identity", "cart", "notification"]
    /// Domain events the order service emits on `ordersaga.events`.
    public static let eventKeys = ["order.created", "order.confirmed", "order.cancelled"]

    /// The queue a participant consumes its commands from. Commands are routed by participant.
    public static func commandQueue(_ participant: String) -> String { "\(participant).commands" }
    /// The dead-letter queue of `queue`.
    public static func deadLetterQueue(_ queue: String) -> String { "\(queue).dlq" }

    /// Every exchange, queue and binding.
    public static var all: AMQPTopology {
        var queues: [AMQPTopology.Queue] = []
        var bindings: [AMQPTopology.Binding] = []
        func addQueue(_ name: String, exchange: String, key: String) {
            let dlq = deadLetterQueue(name)
            queues.append(.init(name: name, deadLetterExchange: deadLetterExchange, deadLetterRoutingKey: dlq))
            queues.append(.init(name: dlq))
            bindings.append(.init(queue: name, exchange: exchange, routingKey: key))
            bindings.append(.init(queue: dlq, exchange: deadLetterExchange, routingKey: dlq))
        }
        for participant in participants {
            addQueue(commandQueue(participant), exchange: commandsExchange, key: participant)
        }
        addQueue(repliesQueue, exchange: repliesExchange, key: repliesQueue)
        // The notification worker tells the customer when an order is cancelled.
        addQueue("notification.events", exchange: eventsExchange, key: "order.cancelled")
        return AMQPTopology(
            exchanges: [
                .init(name: commandsExchange, kind: .direct),
                .init(name: repliesExchange, kind: .direct),
                .init(name: eventsExchange, kind: .topic),
                .init(name: deadLetterExchange, kind: .direct),
            ],
            queues: queues,
            bindings: bindings)
    }
}

import AMQP

/// The RabbitMQ topology of DESIGN.md, in vhost `ordersaga`. The order service declares all of it
/// on connect (declarations are idempotent), so commands wait in their queues even for a worker
/// that has never started; each worker declares only its own part, which is all its RabbitMQ
/// user may configure.
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

    /// The notification worker's subscription: it tells the customer when an order is cancelled.
    public static let notificationEventsQueue = "notification.events"

    /// Every exchange, queue and binding (what the order service declares).
    public static var all: AMQPTopology {
        var topology = AMQPTopology(exchanges: exchanges)
        for participant in participants { topology.addQueue(commandQueue(participant), exchange: commandsExchange, key: participant) }
        topology.addQueue(repliesQueue, exchange: repliesExchange, key: repliesQueue)
        topology.addQueue(notificationEventsQueue, exchange: eventsExchange, key: "order.cancelled")
        return topology
    }

    /// What one worker declares: the exchanges it uses, its command queue (and the notification
    /// worker's event queue), with their dead-letter queues.
    public static func forParticipant(_ participant: String) -> AMQPTopology {
        var topology = AMQPTopology(exchanges: exchanges.filter { $0.name != eventsExchange || participant == "notification" })
        topology.addQueue(commandQueue(participant), exchange: commandsExchange, key: participant)
        if participant == "notification" {
            topology.addQueue(notificationEventsQueue, exchange: eventsExchange, key: "order.cancelled")
        }
        return topology
    }

    static let exchanges: [AMQPTopology.Exchange] = [
        .init(name: commandsExchange, kind: .direct),
        .init(name: repliesExchange, kind: .direct),
        .init(name: eventsExchange, kind: .topic),
        .init(name: deadLetterExchange, kind: .direct),
    ]
}

extension AMQPTopology {
    /// A queue bound to `exchange` with `key`, whose rejected messages go to `<queue>.dlq`.
    mutating func addQueue(_ name: String, exchange: String, key: String) {
        let dlq = SagaTopology.deadLetterQueue(name)
        queues.append(.init(name: name, deadLetterExchange: SagaTopology.deadLetterExchange, deadLetterRoutingKey: dlq))
        queues.append(.init(name: dlq))
        bindings.append(.init(queue: name, exchange: exchange, routingKey: key))
        bindings.append(.init(queue: dlq, exchange: SagaTopology.deadLetterExchange, routingKey: dlq))
    }
}

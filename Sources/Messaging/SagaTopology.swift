import AMQP
import CheckoutContracts

/// The RabbitMQ topology of DESIGN.md, in vhost `ordersaga`. The administrator declares all of it
/// once, when the system is set up (`ordersaga setup`), so commands wait in their queues even for
/// a worker that has never started. Each service then only checks, on every connect, that the
/// part it uses exists: its RabbitMQ user may configure nothing (``permissions(of:)``).
public enum SagaTopology {
    public static let commandsExchange = "ordersaga.commands"
    public static let repliesExchange = "ordersaga.replies"
    public static let eventsExchange = "ordersaga.events"
    public static let deadLetterExchange = "ordersaga.dead-letter"
    /// The order service's reply queue; also the routing key replies are published with.
    public static let repliesQueue = "order-service.replies"
    /// The five workers, each consuming `<participant>.commands`.
    public static let participants = [
        CatalogContract.participant, PromotionContract.participant, IdentityContract.participant, CartContract.participant,
        NotificationContract.participant,
    ]
    /// A participant's queue of domain events from `ordersaga.events`, and the keys it binds.
    public struct Subscription: Sendable {
        public let participant: String
        public let queue: String
        public let keys: [String]
    }

    /// Who hears which events; the one place a subscription is written down.
    public static let subscriptions = [
        // The notification worker tells the customer when an order is cancelled.
        Subscription(participant: NotificationContract.participant, queue: "notification.events", keys: [OrderEvents.cancelled]),
    ]

    /// The event queues `participant` consumes.
    public static func eventQueues(of participant: String) -> [String] {
        subscriptions.filter { $0.participant == participant }.map(\.queue)
    }

    /// The queue a participant consumes its commands from. Commands are routed by participant.
    public static func commandQueue(_ participant: String) -> String { "\(participant).commands" }
    /// The dead-letter queue of `queue`.
    public static func deadLetterQueue(_ queue: String) -> String { "\(queue).dlq" }

    /// The queue whose dead-letter queue `queue` is (`catalog.commands.dlq` → `catalog.commands`).
    public static func originalQueue(ofDeadLetterQueue queue: String) -> String {
        queue.hasSuffix(".dlq") ? String(queue.dropLast(4)) : queue
    }

    /// Every dead-letter queue.
    public static var deadLetterQueues: [String] {
        all.queues.map(\.name).filter { $0.hasSuffix(".dlq") }
    }

    /// Every exchange, queue and binding (what `ordersaga setup` declares), with classic queues.
    public static var all: AMQPTopology { all(queues: .classic) }

    /// Every exchange, queue and binding, with queues of `kind` (setting `amqp.queueType`); a quorum
    /// queue dead-letters a message delivered more than `deliveryLimit` times (`amqp.deliveryLimit`).
    public static func all(queues kind: AMQPTopology.Queue.Kind, deliveryLimit: Int = 20) -> AMQPTopology {
        var topology = AMQPTopology(exchanges: exchanges)
        let shape = QueueShape(kind: kind, deliveryLimit: kind == .quorum ? deliveryLimit : nil)
        for participant in participants {
            topology.addQueue(commandQueue(participant), exchange: commandsExchange, keys: [participant], shape: shape)
        }
        topology.addQueue(repliesQueue, exchange: repliesExchange, keys: [repliesQueue], shape: shape)
        for subscription in subscriptions {
            topology.addQueue(subscription.queue, exchange: eventsExchange, keys: subscription.keys, shape: shape)
        }
        return topology
    }

    struct QueueShape {
        var kind: AMQPTopology.Queue.Kind
        var deliveryLimit: Int?
    }

    /// What the order service checks on connect: everything, since it sends to every queue.
    public static var forOrderService: AMQPTopology { all.checkedOnly }

    /// What one worker checks on connect: its part of ``all`` (the exchanges it uses, its command
    /// queue and its event queues, with their dead-letter queues).
    public static func forParticipant(_ participant: String) -> AMQPTopology {
        let queues = [commandQueue(participant)] + eventQueues(of: participant)
        let own = Set(queues + queues.map(deadLetterQueue))
        let subscribes = queues.count > 1
        return AMQPTopology(
            exchanges: all.exchanges.filter { $0.name != eventsExchange || subscribes },
            queues: all.queues.filter { own.contains($0.name) },
            passive: true)
    }

    static let exchanges: [AMQPTopology.Exchange] = [
        .init(name: commandsExchange, kind: .direct),
        .init(name: repliesExchange, kind: .direct),
        .init(name: eventsExchange, kind: .topic),
        .init(name: deadLetterExchange, kind: .direct),
    ]
}

extension AMQPTopology {
    /// A queue bound to `exchange` with each of `keys`, whose rejected messages go to `<queue>.dlq`.
    /// A dead-letter queue has no limit of its own: what reaches it stays for an operator.
    mutating func addQueue(_ name: String, exchange: String, keys: [String], shape: SagaTopology.QueueShape) {
        let dlq = SagaTopology.deadLetterQueue(name)
        queues.append(.init(
            name: name, deadLetterExchange: SagaTopology.deadLetterExchange, deadLetterRoutingKey: dlq, kind: shape.kind,
            deliveryLimit: shape.deliveryLimit))
        queues.append(.init(name: dlq, kind: shape.kind))
        for key in keys { bindings.append(.init(queue: name, exchange: exchange, routingKey: key)) }
        bindings.append(.init(queue: dlq, exchange: SagaTopology.deadLetterExchange, routingKey: dlq))
    }
}

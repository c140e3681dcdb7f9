/// Exchanges, queues and bindings that a connection declares (idempotently) each time it connects.
/// Everything is durable.
///
/// A ``passive`` topology is only checked: each exchange and queue must already exist, and
/// bindings are not touched. RabbitMQ asks for no permission to check, so a user that may
/// configure nothing can still be told at connect time that its queue is missing.
public struct AMQPTopology: Sendable, Equatable {
    public struct Exchange: Sendable, Equatable {
        public enum Kind: String, Sendable { case direct, topic, fanout }
        public var name: String
        public var kind: Kind
        public init(name: String, kind: Kind) {
            self.name = name
            self.kind = kind
        }
    }

    public struct Queue: Sendable, Equatable {
        /// `classic` lives on one node; `quorum` is replicated across a cluster's nodes (Raft), and
        /// counts deliveries so a message redelivered too often can be dead-lettered.
        public enum Kind: String, Sendable, CaseIterable { case classic, quorum }

        public var name: String
        /// Where rejected messages go (`x-dead-letter-exchange`).
        public var deadLetterExchange: String?
        /// The routing key they go with (`x-dead-letter-routing-key`).
        public var deadLetterRoutingKey: String?
        public var kind: Kind
        /// A quorum queue's most deliveries of one message (`x-delivery-limit`); past it the message
        /// is dead-lettered instead of redelivered (a message that kills its consumer every time).
        public var deliveryLimit: Int?

        public init(
            name: String, deadLetterExchange: String? = nil, deadLetterRoutingKey: String? = nil, kind: Kind = .classic,
            deliveryLimit: Int? = nil
        ) {
            self.name = name
            self.deadLetterExchange = deadLetterExchange
            self.deadLetterRoutingKey = deadLetterRoutingKey
            self.kind = kind
            self.deliveryLimit = deliveryLimit
        }

        /// The `x-` arguments it is declared with; RabbitMQ refuses to redeclare a queue with others.
        public var arguments: [String: AMQPHeaderValue] {
            var arguments: [String: AMQPHeaderValue] = [:]
            if let deadLetterExchange { arguments["x-dead-letter-exchange"] = .string(deadLetterExchange) }
            if let deadLetterRoutingKey { arguments["x-dead-letter-routing-key"] = .string(deadLetterRoutingKey) }
            if kind == .quorum {
                arguments["x-queue-type"] = .string(kind.rawValue)
                if let deliveryLimit { arguments["x-delivery-limit"] = .int(Int64(deliveryLimit)) }
            }
            return arguments
        }
    }

    public struct Binding: Sendable, Equatable {
        public var queue: String
        public var exchange: String
        public var routingKey: String
        public init(queue: String, exchange: String, routingKey: String) {
            self.queue = queue
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }

    public var exchanges: [Exchange]
    public var queues: [Queue]
    public var bindings: [Binding]
    /// Check that the exchanges and queues exist instead of declaring them.
    public var passive: Bool

    public init(exchanges: [Exchange] = [], queues: [Queue] = [], bindings: [Binding] = [], passive: Bool = false) {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
        self.passive = passive
    }

    /// The same exchanges and queues, checked rather than declared.
    public var checkedOnly: AMQPTopology {
        AMQPTopology(exchanges: exchanges, queues: queues, bindings: [], passive: true)
    }
}

/// A queue this connection consumes, with how many unacknowledged messages it may hold.
public struct AMQPConsumer: Sendable, Equatable {
    public var queue: String
    public var prefetch: UInt16
    public init(queue: String, prefetch: UInt16 = 32) {
        self.queue = queue
        self.prefetch = prefetch
    }
}

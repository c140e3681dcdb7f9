/// What each process may do in vhost `ordersaga`, as RabbitMQ permission patterns (configure,
/// write, read), derived from ``SagaTopology`` so that a queue added there is granted here.
///
/// The topology is declared once, by the administrator, when the system is set up
/// (`ordersaga setup`); the services only check that it exists, which RabbitMQ allows without any
/// permission, so none of them may configure anything. The order service writes commands and
/// events and reads its replies; a worker writes replies and reads its own queues. Each writes to
/// the dead-letter exchange too: a consumer dead-letters a message by publishing it there with why
/// it failed (``DeadLetterHeaders``).
public struct BrokerPermissions: Sendable, Equatable {
    public var configure: String
    public var write: String
    public var read: String

    /// A pattern that matches exactly these names.
    static func exactly(_ names: [String]) -> String {
        names.isEmpty ? "^$" : "^(" + names.map(escaped).joined(separator: "|") + ")$"
    }

    static func escaped(_ name: String) -> String {
        var pattern = ""
        for character in name {
            if ".^$*+?()[]{}|\\-".contains(character) { pattern.append("\\") }
            pattern.append(character)
        }
        return pattern
    }
}

extension SagaTopology {
    /// The RabbitMQ user of the order service.
    public static let orderServiceUser = "order-service"

    /// The rights of `service` (`order-service` or a participant), or `nil` for an unknown name.
    public static func permissions(of service: String) -> BrokerPermissions? {
        if service == orderServiceUser {
            return BrokerPermissions(
                configure: "^$",
                write: BrokerPermissions.exactly([commandsExchange, eventsExchange, deadLetterExchange]),
                read: BrokerPermissions.exactly([repliesQueue]))
        }
        guard participants.contains(service) else { return nil }
        return BrokerPermissions(
            configure: "^$",
            write: BrokerPermissions.exactly([repliesExchange, deadLetterExchange]),
            read: BrokerPermissions.exactly([commandQueue(service)] + eventQueues(of: service)))
    }
}

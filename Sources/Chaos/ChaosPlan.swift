import Workload

/// What a chaos run does to the system.
public enum FaultKind: String, Sendable, CaseIterable {
    case killOrderService = "kill-order-service"
    case killWorker = "kill-worker"
    case killSeveral = "kill-several"
    case crashPoint = "crash-point"
    case restartRabbitMQ = "restart-rabbitmq"
    case restartPostgres = "restart-postgres"
    case duplicateMessage = "duplicate-message"
    case malformedMessage = "malformed-message"
    /// The identity worker is down for a while, so refunds fail and retry (and may park their
    /// saga FAILED until the operator's retry at the end).
    case compensationOutage = "compensation-outage"
    /// PostgreSQL stopped at once and left down while the order service and a worker are killed
    /// and started again: they must wait for their databases, then carry on, when it is back.
    case postgresOutage = "postgres-outage"
    /// RabbitMQ's memory alarm raised and held while a service is killed and started again: the
    /// broker reads no connection that publishes, so commands, replies and acks wait, and the
    /// restarted service connects under the alarm; every saga must carry on once it clears.
    case brokerAlarm = "broker-alarm"

    /// Whether it needs the control command (processes, servers) rather than only the broker.
    public var needsControl: Bool {
        switch self {
        case .duplicateMessage, .malformedMessage: false
        case .killOrderService, .killWorker, .killSeveral, .crashPoint, .restartRabbitMQ, .restartPostgres, .compensationOutage, .postgresOutage,
             .brokerAlarm:
            true
        }
    }
}

/// One fault, fixed by the seed.
public struct Fault: Sendable, Equatable, CustomStringConvertible {
    public var kind: FaultKind
    /// How long to wait, after the previous fault was over, before this one.
    public var gapMilliseconds: Int
    /// The services it kills or arms (`order-service`, `catalog`, …), or the queue's participant.
    public var targets: [String]
    /// For a crash point: `point:N`.
    public var crashPoint: String?
    /// How long the fault lasts (an outage), in milliseconds.
    public var holdMilliseconds: Int

    public var description: String {
        var text = "\(kind.rawValue) \(targets.joined(separator: ","))"
        if let crashPoint { text += " at \(crashPoint)" }
        if holdMilliseconds > 0 { text += " for \(holdMilliseconds) ms" }
        return text + " after \(gapMilliseconds) ms"
    }
}

/// Everything a chaos run does, derived from its seed alone: which checkouts fail where, and
/// which faults come in which order after which pauses.
public struct ChaosPlan: Sendable, Equatable {
    public static let services = ["order-service", "catalog", "promotion", "identity", "cart", "notification"]
    public static let workers = Array(services.dropFirst())
    /// Where each crash point can be armed.
    static let crashPoints: [(point: String, services: [String])] = [
        ("saga.after-commit", ["order-service"]),
        ("saga.mid-compensation", ["order-service"]),
        ("relay.confirm-wait", services),
        ("relay.after-publish", services),
        ("consumer.before-ack", services),
    ]

    public let seed: UInt64
    public let checkouts: [CheckoutOutcome]
    public let faults: [Fault]

    /// - Parameters:
    ///   - failShare: the share of checkouts that fail, spread over the steps in turn.
    ///   - faultCount: faults in all, every kind of `kinds` as evenly as can be, in a seeded order.
    public init(seed: UInt64, sagas: Int, failShare: Double, faultCount: Int, kinds: [FaultKind]) {
        var random = SeededRandom(seed: seed)
        self.seed = seed
        var failures = 0
        checkouts = (0..<sagas).map { _ in
            guard Double.random(in: 0..<1, using: &random) < failShare else { return .succeeds }
            defer { failures += 1 }
            return CheckoutOutcome.failures[failures % CheckoutOutcome.failures.count]
        }
        var order: [FaultKind] = []
        while order.count < faultCount, !kinds.isEmpty {
            order += kinds.shuffled(using: &random)
        }
        faults = order.prefix(faultCount).map { kind in
            var fault = Fault(kind: kind, gapMilliseconds: Int.random(in: 500...3000, using: &random), targets: [], crashPoint: nil, holdMilliseconds: 0)
            switch kind {
            case .killOrderService:
                fault.targets = ["order-service"]
            case .killWorker:
                fault.targets = [Self.workers.randomElement(using: &random)!]
            case .killSeveral:
                fault.targets = Array(Self.services.shuffled(using: &random).prefix(Int.random(in: 2...4, using: &random))).sorted()
            case .crashPoint:
                let (point, services) = Self.crashPoints.randomElement(using: &random)!
                fault.targets = [services.randomElement(using: &random)!]
                fault.crashPoint = "\(point):\(Int.random(in: 1...5, using: &random))"
            case .restartRabbitMQ, .restartPostgres:
                fault.targets = [kind == .restartRabbitMQ ? "rabbitmq" : "postgresql"]
            case .duplicateMessage, .malformedMessage:
                fault.targets = [Self.workers.randomElement(using: &random)!]
            case .compensationOutage:
                fault.targets = ["identity"]
                fault.holdMilliseconds = Int.random(in: 8000...20000, using: &random)
            case .postgresOutage:
                fault.targets = ["order-service", Self.workers.randomElement(using: &random)!]
                fault.holdMilliseconds = Int.random(in: 2000...6000, using: &random)
            case .brokerAlarm:
                fault.targets = [Self.services.randomElement(using: &random)!]
                fault.holdMilliseconds = Int.random(in: 2000...6000, using: &random)
            }
            return fault
        }
    }
}

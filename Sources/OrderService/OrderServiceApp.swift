import AMQP
import Foundation
import Hummingbird
import Logging
import Messaging
import Postgres
import SagaCore
import ServiceLifecycle

/// How the order service runs.
public struct OrderServiceConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var postgresURL: String
    public var amqp: AMQPConfiguration
    /// Where `create_order.yaml` is.
    public var sagasDirectory: URL
    /// A create_order definition to run instead of the file's (tests pass changed timeouts as
    /// values); it is registered and checked against the database like the file's.
    public var definition: SagaDefinition?
    public var poolSize: Int
    public var replyConcurrency: Int
    public var sweepInterval: Duration

    public init(
        host: String = "127.0.0.1", port: Int = 8080, postgresURL: String, amqp: AMQPConfiguration, sagasDirectory: URL,
        poolSize: Int = 8, replyConcurrency: Int = 8, sweepInterval: Duration = .milliseconds(250)
    ) {
        self.host = host
        self.port = port
        self.postgresURL = postgresURL
        self.amqp = amqp
        self.sagasDirectory = sagasDirectory
        self.poolSize = poolSize
        self.replyConcurrency = replyConcurrency
        self.sweepInterval = sweepInterval
    }
}

/// Assembles the order service: HTTP API, broker connection, outbox relay, reply consumer,
/// deadline sweeper and the pruning of outbox and inbox. Tests call it too. A bad saga definition
/// throws ``SagaDefinitionError`` (file, line, problem) before anything runs.
public func buildOrderService(_ configuration: OrderServiceConfiguration, logger: Logger) async throws -> some ApplicationProtocol {
    let file = configuration.sagasDirectory.appendingPathComponent("\(CreateOrderSaga.name).yaml")
    let definition = try configuration.definition
        ?? SagaDefinitionRegistry.load(name: CreateOrderSaga.name, directory: configuration.sagasDirectory)
    try CreateOrderSaga.check(
        definition, file: file.path, text: configuration.definition == nil ? try? String(contentsOf: file, encoding: .utf8) : nil)
    let pool = PostgresPool(conninfo: configuration.postgresURL, size: configuration.poolSize, label: "order-service")
    let registry = try await SagaDefinitionRegistry.register(
        definition, file: file.path, pool: pool)
    let connection = AMQPConnection(
        configuration: configuration.amqp, topology: SagaTopology.forOrderService,
        consumers: [AMQPConsumer(queue: SagaTopology.repliesQueue, prefetch: 64)], logger: logger)
    let relay = OutboxRelay(pool: pool, connection: connection, logger: logger)
    let metrics = OrderServiceMetrics()
    let engine = SagaEngine(pool: pool, definition: definition, registry: registry, outboxWritten: relay.wake, metrics: metrics, logger: logger)
    let replies = MessageConsumer(connection: connection, concurrency: configuration.replyConcurrency, logger: logger) { delivery in
        try await engine.handleReply(delivery)
    }
    let sweeper = DeadlineSweeper(engine: engine, interval: configuration.sweepInterval, logger: logger)

    let router = Router()
    router.add(middleware: LogRequestsMiddleware(.debug))
    router.add(middleware: ProblemMiddleware(bodyLimit: OrderServiceAPI.maxBody))
    OrderServiceAPI(engine: engine, pool: pool, connection: connection, metrics: metrics).addRoutes(to: router)
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "order-service"),
        services: [AMQPConnectionService(connection), relay, replies, sweeper, MessageRetention(pool: pool, logger: logger)],
        logger: logger)
}

import AMQP
import Foundation
import HTTPEdge
import Hummingbird
import Logging
import Messaging
import Postgres
import Prometheus
import Retry
import SagaCore
import ServiceLifecycle

/// How the order service runs; every tunable is one of ``OrderSagaSettings``, with its default.
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
    public var sweepInterval: Duration
    public var sweepBatchSize: Int
    /// The largest request body, in bytes.
    public var bodyLimit: Int
    /// Seconds a `503` asks a client to wait while the database is down.
    public var retryAfter: Int
    /// Sagas in flight past which checkout answers 503 (admission control); 0 for no limit.
    public var maxInFlight: Int
    /// Requests a second a credential may make, unless its key says otherwise; 0 for no limit.
    public var rateLimit: Int
    /// How long after it was confirmed an order may be cancelled; zero: never.
    public var cancelWindow = OrderSagaSettings.cancelWindow.defaultValue
    /// A cancel_order definition to run instead of the file's, as ``definition``.
    public var cancelDefinition: SagaDefinition?
    /// The key JWT bearer tokens are checked with, if any (``TokenVerifier``).
    public var tokens = TokenSettings()
    /// The cart service a checkout by cart reads its cart from; empty: such a checkout answers 503.
    public var cartServiceURL = OrderSagaSettings.cartServiceURL.defaultValue

    public struct TokenSettings: Sendable {
        public var secret = ""
        public var publicKeyFile = ""
        public var audience = ""
        public init(secret: String = "", publicKeyFile: String = "", audience: String = "") {
            self.secret = secret
            self.publicKeyFile = publicKeyFile
            self.audience = audience
        }
    }
    /// Consuming replies, publishing, pruning.
    public var messaging: MessagingSettings
    /// Where `GET /metrics` reads from; the process sends its swift-metrics here too (`ProcessMetrics`).
    public var metricsRegistry = PrometheusCollectorRegistry()

    public init(
        host: String = OrderSagaSettings.host.defaultValue, port: Int = OrderSagaSettings.port.defaultValue,
        postgresURL: String, amqp: AMQPConfiguration, sagasDirectory: URL,
        poolSize: Int = OrderSagaSettings.orderPoolSize.defaultValue,
        sweepInterval: Duration = OrderSagaSettings.sweepInterval.defaultValue,
        sweepBatchSize: Int = OrderSagaSettings.sweepBatchSize.defaultValue,
        bodyLimit: Int = OrderSagaSettings.bodyLimit.defaultValue,
        retryAfter: Int = OrderSagaSettings.retryAfter.defaultValue,
        maxInFlight: Int = OrderSagaSettings.maxInFlight.defaultValue,
        rateLimit: Int = OrderSagaSettings.rateLimit.defaultValue,
        messaging: MessagingSettings = MessagingSettings()
    ) {
        self.host = host
        self.port = port
        self.postgresURL = postgresURL
        self.amqp = amqp
        self.sagasDirectory = sagasDirectory
        self.poolSize = poolSize
        self.sweepInterval = sweepInterval
        self.sweepBatchSize = sweepBatchSize
        self.bodyLimit = bodyLimit
        self.retryAfter = retryAfter
        self.maxInFlight = maxInFlight
        self.rateLimit = rateLimit
        self.messaging = messaging
    }
}

/// Assembles the order service: HTTP API, broker connection, outbox relay, reply consumer,
/// deadline sweeper and the pruning of outbox and inbox. Tests call it too. A bad saga definition
/// throws ``SagaDefinitionError`` (file, line, problem) before anything runs.
public func buildOrderService(_ configuration: OrderServiceConfiguration, logger: Logger) async throws -> some ApplicationProtocol {
    // Each definition from its file (or the configuration's), checked against the code that runs it.
    var definitions: [(definition: SagaDefinition, file: String)] = []
    for (name, given) in [(CreateOrderSaga.name, configuration.definition), (CreateOrderSaga.cancelName, configuration.cancelDefinition)] {
        let file = configuration.sagasDirectory.appendingPathComponent("\(name).yaml")
        let definition = try given ?? SagaDefinitionRegistry.load(name: name, directory: configuration.sagasDirectory)
        try CreateOrderSaga.check(definition, file: file.path, text: given == nil ? try? String(contentsOf: file, encoding: .utf8) : nil)
        definitions.append((definition, file.path))
    }
    let pool = PostgresPool(conninfo: configuration.postgresURL, size: configuration.poolSize, label: "order-service")
    let store = try await untilDatabaseAnswers(logger: logger) {
        StartingServer(host: configuration.host, port: configuration.port, retryAfter: configuration.retryAfter, logger: logger)
    } open: {
        try await PostgresSagaStore.open(pool: pool, registering: definitions)
    }
    let settings = configuration.messaging
    var amqp = configuration.amqp
    amqp.connectionName = amqp.connectionName ?? "order-service"
    let connection = AMQPConnection(
        configuration: amqp, topology: SagaTopology.forOrderService,
        consumers: [AMQPConsumer(queue: SagaTopology.repliesQueue, prefetch: settings.prefetch)], logger: logger)
    let relay = OutboxRelay(pool: pool, connection: connection, settings: settings, logger: logger)
    // Every dead-letter queue's depth, by a passive declare each (which needs no right on it).
    var depths = amqp
    depths.connectionName = "\(amqp.connectionName ?? "order-service") (dead-letter depths)"
    let metrics = OrderServiceMetrics(registry: configuration.metricsRegistry) { [amqp = depths] in
        let queues = SagaTopology.deadLetterQueues
        guard let counts = try? await AMQPConnection.messageCounts(of: queues, configuration: amqp) else { return nil }
        return Dictionary(uniqueKeysWithValues: zip(queues, counts))
    }
    let engine = SagaEngine(
        store: store, definition: definitions[0].definition, cancelDefinition: definitions[1].definition, outboxWritten: relay.committed,
        metrics: metrics, logger: logger, cancelWindow: configuration.cancelWindow)
    let replies = MessageConsumer(
        connection: connection, concurrency: settings.concurrency, maxAttempts: settings.attempts, logger: logger,
        deadLettered: { metrics.deadLettered(from: $0) }, batchSize: settings.batchSize,
        executors: pool.dedicatedExecutors(upTo: settings.concurrency),
        batchHandler: { deliveries in try await engine.handleReplies(deliveries) }
    ) { delivery in
        try await engine.handleReplies([delivery])
    }
    let sweeper = DeadlineSweeper(engine: engine, interval: configuration.sweepInterval, batchSize: configuration.sweepBatchSize, logger: logger)

    let admission = Admission(limit: configuration.maxInFlight, store: store, logger: logger)
    let keys = APIKeyStore(pool: pool)
    let tokens = try await TokenVerifier.make(
        secret: configuration.tokens.secret, publicKeyFile: configuration.tokens.publicKeyFile, audience: configuration.tokens.audience)
    let authenticator = Authenticator(defaultRateLimit: configuration.rateLimit, tokens: tokens) { try await keys.record(id: $0, using: $1) }
    let carts = configuration.cartServiceURL.isEmpty ? nil : CartLookup(baseURL: configuration.cartServiceURL, logger: logger)
    let router = buildRouter(
        engine: engine, store: store, metrics: metrics, admission: admission, authenticator: authenticator, carts: carts,
        broker: { connection.status },
        bodyLimit: configuration.bodyLimit, retryAfter: configuration.retryAfter)
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "order-service"),
        services: [AMQPConnectionService(connection), relay, replies, sweeper, admission, MessageRetention(pool: pool, settings: settings, also: [.idempotencyKeys(settings)], logger: logger)],
        logger: logger)
}

/// Runs `open` until PostgreSQL answers. While the server is down or starting, refuses the
/// service's role or database, or has no tables yet (`ordersaga setup` has not run, or not to its
/// end), the order service waits for it, as the workers and every broker connection do, instead of
/// exiting: a service restarted during a database outage comes up when the database does. The
/// first failure is logged, then every 30th, and the end of the wait; meanwhile `waiting()`'s
/// server answers on the service's port. Any other error (a definition that differs from the
/// stored copy of its version) throws at once.
func untilDatabaseAnswers<T>(logger: Logger, whileWaiting waiting: () -> StartingServer, open: () async throws -> T) async throws -> T {
    var failures = FailureLog(every: 30)
    let backoff = RetryPolicy.unlimited(backoffMilliseconds: 250, maxDelayMilliseconds: 5_000)
    var server: StartingServer?
    let opened: Result<T, any Error>
    while true {
        do {
            opened = .success(try await open())
            break
        } catch let error as PostgresError where error.isUnavailable || error.isUndefinedTable {
            if failures.failed() {
                let hint = error.isUndefinedTable ? " (has `ordersaga setup` run?)" : ""
                logger.warning(
                    "PostgreSQL is not ready; waiting for it", metadata: ["error": "\(error)\(hint)", "failures": "\(failures.failures)"])
            }
            if server == nil { server = waiting() }
            do {
                try await Task.sleep(for: backoff.delay(afterAttempt: failures.failures))
            } catch {
                opened = .failure(error)
                break
            }
        } catch {
            opened = .failure(error)
            break
        }
    }
    await server?.stop()  // the port is free for the REST API, or for nothing when it throws
    if case .success = opened, failures.failures > 0 {
        logger.notice("PostgreSQL is ready; starting", metadata: ["failures": "\(failures.failures)"])
    }
    return try opened.get()
}

/// What the order service answers on its port while it waits for its database at start:
/// `GET /health` 200 (the process is alive: an orchestrator should not restart it for an outage),
/// `GET /ready` 503, and any other request 503 problem+json with `Retry-After`, as while the
/// database is down later. Stopped, freeing the port, before the REST API starts.
struct StartingServer: Sendable {
    private let task: Task<Void, Never>

    init(host: String, port: Int, retryAfter: Int, logger: Logger) {
        let router = Router()
        router.add(middleware: OnlyProbes(retryAfter: retryAfter))
        router.get("health") { _, _ in try jsonResponse(["status": "ok", "database": "waiting", "broker": "waiting"]) }
        router.get("ready") { _, _ in
            try jsonResponse(["status": "not ready", "database": "waiting", "broker": "waiting"], status: .serviceUnavailable)
        }
        let app = Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "order-service"), logger: logger)
        task = Task {
            do {
                try await app.runService(gracefulShutdownSignals: [])
            } catch {
                logger.warning("cannot answer /health and /ready while waiting for the database", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Stops the server and waits until its port is free.
    func stop() async {
        task.cancel()
        await task.value
    }

    /// Every request but the probes: the database is not ready yet.
    private struct OnlyProbes<Context: RequestContext>: RouterMiddleware {
        let retryAfter: Int
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            guard request.method == .get, ["/health", "/ready"].contains(request.uri.path) else {
                throw ProblemDetails.databaseUnavailable(retryAfter: retryAfter)
            }
            return try await next(request, context)
        }
    }
}

/// The REST API's routes and middleware over `engine` and `store`: what `buildOrderService` serves,
/// and what tests drive with an in-memory store and no server.
func buildRouter(
    engine: SagaEngine, store: any SagaStore, metrics: OrderServiceMetrics, admission: Admission, authenticator: Authenticator,
    carts: CartLookup? = nil, broker: @escaping @Sendable () -> AMQPConnectionStatus, bodyLimit: Int, retryAfter: Int
) -> Router<BasicRequestContext> {
    let router = Router()
    // Requests by route, method and status, with their duration (swift-metrics; `ProcessMetrics`
    // sends them to the registry /metrics serves). Outermost, so refused requests count too.
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: LogRequestsMiddleware(.debug))
    router.add(middleware: ProblemMiddleware(bodyLimit: bodyLimit, retryAfter: retryAfter))
    OrderServiceAPI(
        engine: engine, store: store, admission: admission, authenticator: authenticator, carts: carts, broker: broker,
        metrics: metrics, bodyLimit: bodyLimit)
        .addRoutes(to: router)
    router.add(middleware: UnroutedMiddleware(router.routes))
    return router
}

extension MessageRetention.Rule {
    /// An Idempotency-Key is forgotten after `retention.idempotencyKeys`: the same key then makes a new order.
    static func idempotencyKeys(_ settings: MessagingSettings) -> Self {
        Self(table: "idempotency_keys", key: "owner, key", column: "created_at", retention: settings.idempotencyKeyRetention)
    }
}

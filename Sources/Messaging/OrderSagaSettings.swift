/// Every setting of OrderSaga, with its key, environment variable, default and meaning: the one
/// list `ordersaga settings` prints and the README's table repeats.
public enum OrderSagaSettings {
    // Connections (every process).
    public static let postgresURL = Setting.postgresURL("postgres.url", "this process's own PostgreSQL database (postgresql://user:password@host:port/db)")
    public static let amqpURL = Setting.text(
        "amqp.url", "", "RabbitMQ (amqp://user:password@host:port/vhost; vhost %2F is /; a cluster: host1:port1,host2:port2,… tried in turn)")
    public static let amqpHeartbeat = Setting.duration("amqp.heartbeat", .seconds(30), minimum: .seconds(1), "heartbeat interval agreed with the broker")
    public static let amqpMaxReconnectDelay = Setting.duration(
        "amqp.maxReconnectDelay", .seconds(5), minimum: .milliseconds(200), "longest wait between broker reconnect attempts")

    public static let queueType = Setting.choice(
        "amqp.queueType", "classic", ["classic", "quorum"],
        "queues setup declares: classic (one node) or quorum (replicated on a cluster; setup, definitions)")
    public static let deliveryLimit = Setting.integer(
        "amqp.deliveryLimit", 20, in: 1...10_000, "deliveries of one message a quorum queue allows before dead-lettering it (setup, definitions)")
    public static let logFormat = Setting.choice(
        "log.format", "auto", ["auto", "json", "text"], "log lines on standard error: JSON objects, or text (auto: text on a terminal, JSON otherwise)")
    public static let tracingEndpoint = Setting.httpURL(
        "tracing.endpoint", empty: "(off)",
        "OTLP/HTTP collector spans are exported to, e.g. http://127.0.0.1:4318 (OTEL_* variables tune the rest)")

    // Consuming and publishing (every process).
    public static let prefetch = Setting.integer("consumer.prefetch", 64, in: 1...65_535, "unacknowledged messages the broker sends ahead")
    public static let concurrency = Setting.integer("consumer.concurrency", 8, in: 1...1024, "messages (or batches) handled at once")
    public static let batchSize = Setting.integer(
        "consumer.batchSize", 32, in: 1...1024, "most messages already waiting that one transaction handles together (group commit; 1 turns it off)")
    public static let attempts = Setting.integer(
        "consumer.attempts", 5, in: 1...100, "attempts at a message that fails before it goes to its dead-letter queue (outages retry without limit)")
    public static let relayBatchSize = Setting.integer("relay.batchSize", 500, in: 1...10_000, "outbox rows published per round")
    public static let relayPollInterval = Setting.duration(
        "relay.pollInterval", .milliseconds(500), "how often the relay looks for rows nobody handed it (a crash or a refused publish left them)")
    public static let outboxRetention = Setting.duration("retention.outbox", .seconds(3600), "how long a published outbox row is kept")
    public static let inboxRetention = Setting.duration("retention.inbox", .seconds(7 * 86_400), "how long a handled message id is kept")
    public static let idempotencyKeyRetention = Setting.duration(
        "retention.idempotencyKeys", .seconds(86_400), minimum: .seconds(60),
        "how long an Idempotency-Key answers with the order it first made (order service); after that it is forgotten")
    public static let retentionInterval = Setting.duration("retention.interval", .seconds(60), "how often old outbox and inbox rows are deleted")
    public static let retentionBatchSize = Setting.integer("retention.batchSize", 10_000, in: 1...1_000_000, "rows deleted per statement")

    // The order service.
    public static let host = Setting.text("http.host", "127.0.0.1", "address the REST API (and each worker's /health, /ready, /metrics) listens on")
    public static let port = Setting.integer("http.port", 8080, in: 1...65_535, "port of the REST API")
    public static let bodyLimit = Setting.integer("http.bodyLimit", 256 * 1024, in: 1024...(64 << 20), "largest request body, in bytes (413 above)")
    public static let retryAfter = Setting.integer("http.retryAfter", 5, in: 1...3600, "seconds a 503 asks the client to wait while the database is down")
    public static let sagasDirectory = Setting.text("sagas.directory", "sagas", "folder with the saga definitions (create_order.yaml, cancel_order.yaml)")
    public static let maxInFlight = Setting.integer(
        "checkout.maxInFlight", 500, in: 0...1_000_000, "sagas running at once past which checkout answers 503 with Retry-After (0: no limit)")
    public static let cartServiceURL = Setting.httpURL(
        "checkout.cartServiceUrl", default: "http://127.0.0.1:9104",
        "the cart service a checkout by cart (a cartId without items) reads its cart from; empty: such a checkout answers 503")
    public static let rateLimit = Setting.integer(
        "api.rateLimit", 100, in: 0...1_000_000,
        "requests a second each credential may make, in bursts of as many (429 with Retry-After above; 0: no limit; a key's own --rate-limit wins)")
    public static let cancelWindow = Setting.duration(
        "api.cancelWindow", .seconds(86_400), minimum: .zero,
        "how long after its order was confirmed a customer may cancel it (a cancel_order saga refunds and undoes it; 0s: never)")
    public static let jwtSecret = Setting.text(
        "auth.jwtSecret", "", empty: "(off)", "an HS256 secret (32 characters or more): JWT bearer tokens signed with it are credentials too")
    public static let jwtPublicKey = Setting.text(
        "auth.jwtPublicKey", "", empty: "(off)",
        "a PEM file of an EC P-256 (ES256) or RSA (RS256) public key: JWT bearer tokens it verifies are credentials too")
    public static let jwtAudience = Setting.text("auth.jwtAudience", "", empty: "(any)", "the audience a JWT's aud must name")
    public static let orderPoolSize = Setting.integer("orderService.poolSize", 8, in: 1...256, "PostgreSQL connections of the order service")
    public static let sweepInterval = Setting.duration("sweeper.interval", .milliseconds(250), "how often passed saga deadlines are looked for")
    public static let sweepBatchSize = Setting.integer("sweeper.batchSize", 100, in: 1...10_000, "sagas whose deadline passed, handled per round")

    // The workers.
    public static let workerPoolSize = Setting.integer("worker.poolSize", 4, in: 1...256, "PostgreSQL connections of a worker")
    public static let workerHTTPPort = Setting.integer(
        "worker.httpPort", 0, in: -1...65_535,
        "port of a worker's /health, /ready and /metrics on http.host (0: catalog 9101, promotion 9102, identity 9103, cart 9104, notification 9105; -1: none)")
    public static let orderServiceURL = Setting.httpURL(
        "worker.orderServiceUrl", default: "http://127.0.0.1:8080",
        "the order service a worker's REST API asks to check each credential (GET /api/v1/credential); empty: no REST API, only the probes")

    public static let mailDirectory = Setting.text(
        "notification.mailDirectory", "mail", empty: "(none: notifications are recorded, not delivered)",
        "folder the notification worker writes each message into, as <saga>-<kind>.eml (relative to the working directory)")
    public static let mailRetention = Setting.duration(
        "notification.mailRetention", .seconds(30 * 86_400), minimum: .seconds(60),
        "how long a message's .eml file stays in notification.mailDirectory; older ones are removed at start and then hourly")

    // Fault injection (tests and scripts/chaos only).
    public static let crashAt = Setting.text(
        "fault.crashAt", "", empty: "(off)",
        "die as kill -9 would at a crash point: POINT or POINT:N (the Nth time), POINT one of \(CrashPoint.allCases.map(\.rawValue).joined(separator: ", "))")

    // `ordersaga setup`, as the administrators.
    public static let postgresAdminURL = Setting.postgresURL("postgres.adminUrl", "a PostgreSQL superuser's URL (setup)")
    public static let amqpAdminURL = Setting.text("amqp.adminUrl", "", "the RabbitMQ administrator's URL of the vhost (setup)")
    public static let managementURL = Setting.text("management.url", "", "RabbitMQ's management API, http://host:port (setup)")

    /// Every setting, for the table: key, environment variable, default, meaning.
    public static var table: [(key: String, environment: String, defaultValue: String, help: String)] {
        func row<V>(_ setting: Setting<V>) -> (String, String, String, String) {
            (setting.key, setting.environmentVariable, setting.formattedDefault.isEmpty ? setting.emptyDefaultLabel : setting.formattedDefault, setting.help)
        }
        return [
            row(postgresURL), row(amqpURL), row(amqpHeartbeat), row(amqpMaxReconnectDelay), row(queueType), row(deliveryLimit), row(logFormat), row(tracingEndpoint),
            row(prefetch), row(concurrency), row(batchSize), row(attempts), row(relayBatchSize), row(relayPollInterval),
            row(outboxRetention), row(inboxRetention), row(idempotencyKeyRetention), row(retentionInterval), row(retentionBatchSize),
            row(host), row(port), row(bodyLimit), row(retryAfter), row(maxInFlight), row(cartServiceURL), row(rateLimit), row(cancelWindow), row(jwtSecret), row(jwtPublicKey), row(jwtAudience), row(sagasDirectory), row(orderPoolSize),
            row(sweepInterval), row(sweepBatchSize), row(workerPoolSize), row(workerHTTPPort), row(orderServiceURL), row(mailDirectory), row(mailRetention), row(crashAt),
            row(postgresAdminURL), row(amqpAdminURL), row(managementURL),
        ]
    }
}

/// What every process tunes about consuming, publishing and pruning; from ``OrderSagaSettings``.
public struct MessagingSettings: Sendable, Equatable {
    public var prefetch: UInt16
    public var concurrency: Int
    public var batchSize: Int
    public var attempts: Int
    public var relayBatchSize: Int
    public var relayPollInterval: Duration
    public var outboxRetention: Duration
    public var inboxRetention: Duration
    public var idempotencyKeyRetention: Duration
    public var retentionInterval: Duration
    public var retentionBatchSize: Int

    /// The documented defaults.
    public init() {
        typealias S = OrderSagaSettings
        prefetch = UInt16(S.prefetch.defaultValue)
        concurrency = S.concurrency.defaultValue
        batchSize = S.batchSize.defaultValue
        attempts = S.attempts.defaultValue
        relayBatchSize = S.relayBatchSize.defaultValue
        relayPollInterval = S.relayPollInterval.defaultValue
        outboxRetention = S.outboxRetention.defaultValue
        inboxRetention = S.inboxRetention.defaultValue
        idempotencyKeyRetention = S.idempotencyKeyRetention.defaultValue
        retentionInterval = S.retentionInterval.defaultValue
        retentionBatchSize = S.retentionBatchSize.defaultValue
    }

    /// Read through `settings`: a bad value throws, naming its key.
    public init(_ settings: SettingsReader) throws {
        typealias S = OrderSagaSettings
        prefetch = UInt16(try settings.value(S.prefetch))
        concurrency = try settings.value(S.concurrency)
        batchSize = try settings.value(S.batchSize)
        attempts = try settings.value(S.attempts)
        relayBatchSize = try settings.value(S.relayBatchSize)
        relayPollInterval = try settings.value(S.relayPollInterval)
        outboxRetention = try settings.value(S.outboxRetention)
        inboxRetention = try settings.value(S.inboxRetention)
        idempotencyKeyRetention = try settings.value(S.idempotencyKeyRetention)
        retentionInterval = try settings.value(S.retentionInterval)
        retentionBatchSize = try settings.value(S.retentionBatchSize)
    }
}

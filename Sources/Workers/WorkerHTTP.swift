import AMQP
import CartWorker
import CatalogWorker
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import HTTPEdge
import Hummingbird
import IdentityWorker
import Logging
import Messaging
import NotificationWorker
import Postgres
import Prometheus
import PromotionWorker
import Synchronization

/// What a worker counts, served at `GET /metrics` in Prometheus' text format: messages handled
/// and copies dropped by type, messages dead-lettered by queue, how many messages each
/// transaction handled (group commit), the outbox backlog and whether the broker is connected.
public final class WorkerMetrics: Sendable {
    /// What `GET /metrics` serves; the process sends its swift-metrics here too (`ProcessMetrics`).
    public let registry = PrometheusCollectorRegistry()
    private let batchSize: ValueHistogram
    private let outboxBacklog: Gauge
    private let brokerConnected: Gauge
    /// The message counters by type and result, made once: `events.handled` runs for every message.
    private let messageCounters = Mutex<[String: Counter]>([:])

    public init() {
        batchSize = registry.makeValueHistogram(
            descriptor: Self.name("consumer_batch_size", unit: "", "Messages handled by one transaction (group commit)"),
            buckets: [1, 2, 4, 8, 16, 32, 64, 128])
        outboxBacklog = registry.makeGauge(
            descriptor: Self.name("outbox_unpublished", unit: "", "Messages in this worker's outbox not yet confirmed by the broker"))
        brokerConnected = registry.makeGauge(
            descriptor: Self.name("broker_connected", unit: "", "1 while the connection to RabbitMQ is up"))
    }

    private static func name(_ name: String, unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "ordersaga", metricName: name, unitName: unit, helpText: help)
    }

    /// The worker runtime's hooks into these metrics.
    public var events: WorkerEvents {
        WorkerEvents(
            handled: { [self] type, duplicate in
                let result = duplicate ? "duplicate" : "handled"
                messageCounters.withLock { counters in
                    if let counter = counters["\(type) \(result)"] { return counter }
                    let counter = registry.makeCounter(
                        descriptor: Self.name("worker_messages", unit: "total", "Commands and events by type: handled, or duplicate (already in the inbox)"),
                        labels: [("type", type), ("result", result)])
                    counters["\(type) \(result)"] = counter
                    return counter
                }.increment()
            },
            batch: { [batchSize] size in batchSize.record(Double(size)) },
            deadLettered: { [registry] queue in
                registry.makeCounter(
                    descriptor: Self.name("messages_dead_lettered", unit: "total", "Messages sent to their dead-letter queue, by the queue they came from"),
                    labels: [("queue", queue)]
                ).increment()
            })
    }

    /// Reads the outbox backlog and the broker's state, and renders everything.
    func render(pool: PostgresPool, brokerConnected isConnected: Bool) async -> [UInt8] {
        if let backlog = try? await pool.query("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL").first?.int("n") {
            outboxBacklog.set(Double(backlog))
        }
        brokerConnected.set(to: isConnected ? 1.0 : 0.0)
        return registry.emitToBuffer()
    }
}

/// A worker's own small HTTP server: `GET /health` (the process runs), `GET /ready` (its database
/// answers and its broker connection is up and not blocked by a resource alarm; 503 otherwise) and `GET /metrics`.
public enum WorkerHTTP {
    /// Binds `host:port` and lets it go at once: a port another process holds stops the worker at
    /// start, before it connects to anything (a failed bind later waits for every service it
    /// started to stop, a broker handshake among them). Throws naming the address and the setting.
    /// `serving` and `setting` name what the port is for and where it is set, for the message.
    public static func checkAvailable(
        host: String, port: Int, serving: String = "/health, /ready and /metrics", setting: String = "worker.httpPort: another port, or -1 for none"
    ) throws {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let address = found else {
            throw PortUnavailable(description: "cannot serve \(serving) on \(host):\(port): no such address (http.host)")
        }
        defer { freeaddrinfo(found) }
        let socket = Glibc.socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
        guard socket >= 0 else { return }  // no socket to try with: the server's own bind will say
        defer { close(socket) }
        var on: Int32 = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        if bind(socket, address.pointee.ai_addr, address.pointee.ai_addrlen) != 0 {
            let reason = String(cString: strerror(errno))
            throw PortUnavailable(description: "cannot serve \(serving) on \(host):\(port): \(reason) (\(setting))")
        }
    }

    public struct PortUnavailable: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Each worker's port unless `worker.httpPort` says otherwise: catalog 9101, promotion 9102,
    /// identity 9103, cart 9104, notification 9105.
    public static func defaultPort(of participant: String) -> Int {
        9101 + (SagaTopology.participants.firstIndex(of: participant) ?? 0)
    }

    /// The server, as a Service to run beside the worker's.
    public static func application(
        participant: String, host: String, port: Int, runtime: WorkerRuntime, metrics: WorkerMetrics, logger: Logger,
        api: Settings = Settings()
    ) -> some ApplicationProtocol {
        let connection = runtime.connection
        let router = router(
            participant: participant, pool: runtime.pool, broker: { connection.status }, metrics: metrics, logger: logger, api: api)
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: participant), logger: logger)
    }

    /// The probes, and the participant's own REST API (``api(of:pool:authenticator:bodyLimit:)``)
    /// when it has one and `api` says who checks credentials.
    public static func router(
        participant: String, pool: PostgresPool, broker: @escaping @Sendable () -> AMQPConnectionStatus, metrics: WorkerMetrics, logger: Logger,
        api: Settings = Settings()
    ) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ProblemMiddleware(bodyLimit: api.bodyLimit, retryAfter: api.retryAfter))
        if let authenticator = api.authenticator ?? api.orderService.map({ OrderServiceCredentials(orderService: $0, logger: logger) }) {
            self.api(of: participant, pool: pool, authenticator: authenticator, bodyLimit: api.bodyLimit)?.addRoutes(to: router)
        }
        router.get("health") { _, _ in
            try json(["status": "ok", "worker": participant], status: .ok)
        }
        router.get("ready") { _, _ in
            let database = await pool.answers(within: .probeLimit)
            let link = broker()
            let ready = database && link.isUp
            return try json(
                ["status": ready ? "ready" : "not ready", "database": database ? "up" : "down"].merging(link.probeFields) { $1 },
                status: ready ? .ok : .serviceUnavailable)
        }
        router.get("metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(
                status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: await metrics.render(pool: pool, brokerConnected: broker() != .down))))
        }
        router.add(middleware: UnroutedMiddleware(router.routes))
        return router
    }

    /// How a worker's REST API runs.
    public struct Settings: Sendable {
        /// The order service that checks credentials (`worker.orderServiceUrl`); `nil`: no REST API, only the probes.
        public var orderService: String?
        /// Checks credentials instead of asking `orderService` (tests).
        public var authenticator: (any CallerAuthenticating)?
        public var bodyLimit: Int
        public var retryAfter: Int

        public init(orderService: String? = nil, authenticator: (any CallerAuthenticating)? = nil, bodyLimit: Int = 256 * 1024, retryAfter: Int = 5) {
            self.orderService = orderService
            self.authenticator = authenticator
            self.bodyLimit = bodyLimit
            self.retryAfter = retryAfter
        }
    }

    /// `participant`'s REST API over its own database; `nil` for a name that is no participant.
    static func api(of participant: String, pool: PostgresPool, authenticator: any CallerAuthenticating, bodyLimit: Int) -> (any ServiceAPI)? {
        switch participant {
        case "catalog": CatalogAPI(store: CatalogStore(pool: pool), authenticator: authenticator, bodyLimit: bodyLimit)
        case "promotion": PromotionAPI(store: PromotionStore(pool: pool), authenticator: authenticator, bodyLimit: bodyLimit)
        case "identity": IdentityAPI(store: IdentityStore(pool: pool), authenticator: authenticator, bodyLimit: bodyLimit)
        case "cart": CartAPI(store: CartStore(pool: pool), authenticator: authenticator, bodyLimit: bodyLimit)
        case "notification": NotificationAPI(store: NotificationStore(pool: pool), authenticator: authenticator, bodyLimit: bodyLimit)
        default: nil
        }
    }

    private static func json(_ object: [String: String], status: HTTPResponse.Status) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(object))))
    }
}

import AMQP
import CheckoutContracts
import Foundation
import Logging
import Messaging
import OrderService
import Postgres
import Provisioning
import ServiceLifecycle
import Workers

/// A whole OrderSaga deployment for one test: six fresh databases (migrated and seeded) and a
/// fresh vhost on the real PostgreSQL and RabbitMQ, set up by the same ``Provisioner`` as
/// `ordersaga setup`, with the five workers run in-process.
///
/// Every service connects as it ships: with its own PostgreSQL role, which owns only its database,
/// and its own RabbitMQ user, which may configure nothing. ``amqp`` is the administrator's, for a
/// test's own probes (publishing a malformed message, reading a queue).
public final class TestSystem: Sendable {
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public let name: String
    /// The administrator's connection to this system's vhost.
    public let amqp: AMQPConfiguration
    private let provisioner: Provisioner
    public let logger: Logger
    /// Where this system's notification worker writes each message (`<saga>-<kind>.eml`); removed with the system.
    public var mailDirectory: URL { FileManager.default.temporaryDirectory.appendingPathComponent("ordersaga-mail-\(name)") }
    /// An API key of the order service with both scopes and no rate limit, stored at set-up.
    public var adminKey: String { admin.text }
    private let admin = APIKey.generate()

    private init(name: String, logger: Logger) {
        let admin = TestInfrastructure.adminConfiguration(vhost: name)
        self.name = name
        self.amqp = admin
        self.provisioner = Provisioner(
            postgresAdminURL: TestInfrastructure.postgresAdminURL, amqpAdmin: admin,
            managementURL: TestInfrastructure.managementURL, databaseName: { "\(name)_\($0)" })
        self.logger = logger
    }

    /// Creates, migrates and seeds everything (with `topology` on the broker), runs `body`, then drops it all.
    public static func with<T>(topology: AMQPTopology = SagaTopology.all, _ body: (TestSystem) async throws -> T) async throws -> T {
        let name = TestInfrastructure.uniqueName("sys")
        var logger = Logger(label: name)
        logger.logLevel = ProcessInfo.processInfo.environment["ORDERSAGA_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        let system = TestSystem(name: name, logger: logger)
        do {
            try await system.provisioner.setUpDatabases(
                ServiceAccount.development, schemaDirectory: repositoryRoot.appendingPathComponent("schema"), seed: true)
            try await system.provisioner.setUpBroker(ServiceAccount.development, topology: topology)
            _ = try await APIKeyStore(pool: system.pool("order")).create(system.admin, name: "test-admin", scopes: [.checkout, .admin], rateLimit: 0)
            let result = try await body(system)
            await system.destroy()
            return result
        } catch {
            await system.destroy()
            throw error
        }
    }

    /// A new API key of this system's order service (by default both scopes and no rate limit).
    public func apiKey(_ scopes: Set<Scope> = [.checkout, .admin], rateLimit: Int? = 0, name: String = "test") async throws -> String {
        try await APIKeyStore(pool: pool("order")).create(name: name, scopes: scopes, rateLimit: rateLimit).0.text
    }

    private func destroy() async {
        for database in SchemaMigrations.databases { await TestInfrastructure.dropDatabase("\(name)_\(database)") }
        await TestInfrastructure.deleteVhost(name)
        try? FileManager.default.removeItem(at: mailDirectory)
    }

    /// The account of the service that owns `database` (`order`, `catalog`, …).
    public func account(_ database: String) -> ServiceAccount {
        ServiceAccount.development.first { $0.database == database }!
    }

    /// The URL the service of `database` connects with: its own role.
    public func url(_ database: String) -> String { provisioner.postgresURL(of: account(database)) }

    /// How the service of `database` connects to the broker: its own user.
    public func amqp(of database: String) -> AMQPConfiguration { provisioner.amqpConfiguration(of: account(database)) }

    /// `amqp://user:password@host:port/vhost` of ``amqp(of:)``, for a service run as a process.
    public func amqpURL(of database: String) -> String {
        let amqp = amqp(of: database)
        return "amqp://\(amqp.user):\(amqp.password)@\(amqp.host):\(amqp.port)/\(amqp.vhost)"
    }

    /// A small pool on one of the six databases, for assertions.
    public func pool(_ database: String) -> PostgresPool { PostgresPool(conninfo: url(database), size: 2) }

    public var orderServiceConfiguration: OrderServiceConfiguration {
        OrderServiceConfiguration(
            postgresURL: url("order"), amqp: amqp(of: "order"), sagasDirectory: Self.repositoryRoot.appendingPathComponent("sagas"),
            poolSize: 4, sweepInterval: .milliseconds(100))
    }

    /// The services of the five workers, or of those named.
    public func workerServices(_ participants: [String] = SagaTopology.participants) -> [any Service] {
        participants.flatMap { participant -> [any Service] in
            let handler = Workers.handler(for: participant, mailDirectory: mailDirectory)!
            let configuration = WorkerConfiguration(participant: participant, postgresURL: url(participant), amqp: amqp(of: participant), poolSize: 2)
            return CommandWorker.services(configuration: configuration, handler: handler, logger: logger)
        }
    }

    /// Whether `queue` of this system's vhost had a consumer within `timeout`: a worker started
    /// in-process is taking its messages (its start is not awaited by ``running(_:_:)``).
    public func hasConsumer(_ queue: String, timeout: Duration = .seconds(30)) async -> Bool {
        await eventually(timeout: timeout, interval: .milliseconds(100)) {
            let info = try? await TestInfrastructure.managementJSON("/api/queues/\(name)/\(queue)") as? [String: Any]
            return (info?["consumers"] as? Int ?? 0) > 0
        }
    }

    /// Runs `services` while `body` runs, then shuts them down gracefully.
    public func running<T: Sendable>(_ services: [any Service], _ body: () async throws -> T) async throws -> T {
        let group = ServiceGroup(services: services, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let result = try await body()
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }
}

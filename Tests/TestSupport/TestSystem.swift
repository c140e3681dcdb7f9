import AMQP
import Foundation
import Logging
import Messaging
import OrderService
import Postgres
import ServiceLifecycle
import Workers

/// A whole OrderSaga deployment for one test: six fresh databases (migrated and seeded) and a
/// fresh vhost on the real PostgreSQL and RabbitMQ, with the five workers run in-process.
public final class TestSystem: Sendable {
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public let name: String
    public let amqp: AMQPConfiguration
    private let urls: [String: String]
    public let logger: Logger

    private init(name: String, amqp: AMQPConfiguration, urls: [String: String], logger: Logger) {
        self.name = name
        self.amqp = amqp
        self.urls = urls
        self.logger = logger
    }

    /// Creates, migrates and seeds everything, runs `body`, then drops it all.
    public static func with<T>(_ body: (TestSystem) async throws -> T) async throws -> T {
        let name = TestInfrastructure.uniqueName("sys")
        var logger = Logger(label: name)
        logger.logLevel = ProcessInfo.processInfo.environment["ORDERSAGA_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        var urls: [String: String] = [:]
        let migrator = PostgresMigrator()
        do {
            for database in SchemaMigrations.databases {
                let url = try await TestInfrastructure.createDatabase("\(name)_\(database)")
                urls[database] = url
                try await SchemaMigrations.apply(
                    schemaDirectory: repositoryRoot.appendingPathComponent("schema"), database: database,
                    pool: PostgresPool(conninfo: url, size: 1), seed: true, migrator: migrator)
            }
            let amqp = try await TestInfrastructure.createVhost(name)
            let system = TestSystem(name: name, amqp: amqp, urls: urls, logger: logger)
            let result = try await body(system)
            await system.destroy()
            return result
        } catch {
            await TestSystem(name: name, amqp: AMQPConfiguration(vhost: name), urls: urls, logger: logger).destroy()
            throw error
        }
    }

    private func destroy() async {
        for database in SchemaMigrations.databases { await TestInfrastructure.dropDatabase("\(name)_\(database)") }
        await TestInfrastructure.deleteVhost(name)
    }

    public func url(_ database: String) -> String { urls[database]! }

    /// A small pool on one of the six databases, for assertions.
    public func pool(_ database: String) -> PostgresPool { PostgresPool(conninfo: url(database), size: 2) }

    public var orderServiceConfiguration: OrderServiceConfiguration {
        OrderServiceConfiguration(
            postgresURL: url("order"), amqp: amqp, sagasDirectory: Self.repositoryRoot.appendingPathComponent("sagas"),
            poolSize: 4, sweepInterval: .milliseconds(100))
    }

    /// The services of the five workers, or of those named.
    public func workerServices(_ participants: [String] = SagaTopology.participants) -> [any Service] {
        participants.flatMap { participant -> [any Service] in
            let handler = Workers.handler(for: participant)!
            let configuration = WorkerConfiguration(participant: participant, postgresURL: url(participant), amqp: amqp, poolSize: 2)
            return CommandWorker.services(configuration: configuration, handler: handler, logger: logger)
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

import AMQP
import ArgumentParser
import Foundation
import Logging
import Messaging
import OrderService
import Postgres
import Provisioning
import ServiceLifecycle
import Workers

@main
struct OrderSagaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ordersaga",
        abstract: "Set up, then run, the OrderSaga order service and its workers.",
        discussion: """
            Every process has its own PostgreSQL database and connects to RabbitMQ's vhost ordersaga.
            URLs come from the options or from ORDERSAGA_POSTGRES_URL and ORDERSAGA_AMQP_URL.
            Run `ordersaga setup` once as the administrators first: the services may create nothing.
            """,
        subcommands: [SetupCommand.self, OrderServiceCommand.self, WorkerCommand.self, MigrateCommand.self])

    static func main() async {
        signal(SIGPIPE, SIG_IGN)  // a peer that went away is an error to handle, not a reason to die
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Connection options every subcommand shares.
struct ConnectionOptions: ParsableArguments {
    @Option(name: .customLong("postgres-url"), help: "PostgreSQL URL of this process's own database (or ORDERSAGA_POSTGRES_URL).")
    var postgresURL: String?

    @Option(name: .customLong("amqp-url"), help: "amqp://user:password@host:port/vhost (or ORDERSAGA_AMQP_URL; vhost %2F is /).")
    var amqpURL: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: Logger.Level = .info

    func postgres() throws -> String {
        guard let url = postgresURL ?? ProcessInfo.processInfo.environment["ORDERSAGA_POSTGRES_URL"] else {
            throw ValidationError("give --postgres-url or set ORDERSAGA_POSTGRES_URL")
        }
        return url
    }

    func amqp() throws -> AMQPConfiguration {
        guard let url = amqpURL ?? ProcessInfo.processInfo.environment["ORDERSAGA_AMQP_URL"] else {
            throw ValidationError("give --amqp-url or set ORDERSAGA_AMQP_URL")
        }
        do {
            return try AMQPConfiguration(url: url)
        } catch {
            throw ValidationError("--amqp-url: \(error)")
        }
    }

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = logLevel
        return logger
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

struct OrderServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order-service",
        abstract: "Serve the REST API and run create_order sagas.",
        discussion: """
            Example:
              ordersaga order-service --port 8080 \\
                --postgres-url postgresql://order_service:secret@127.0.0.1:5432/order_db \\
                --amqp-url amqp://order-service:secret@127.0.0.1:5672/ordersaga
            """)

    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "HTTP port.") var port = 8080
    @Option(help: "Folder with the saga definitions (create_order.yaml).") var sagas = "sagas"
    @Option(help: "PostgreSQL connections in the pool.") var poolSize = 8

    func run() async throws {
        let logger = connection.logger("order-service")
        let configuration = OrderServiceConfiguration(
            host: host, port: port, postgresURL: try connection.postgres(), amqp: try connection.amqp(),
            sagasDirectory: URL(fileURLWithPath: sagas), poolSize: poolSize)
        let app = try await buildOrderService(configuration, logger: logger)
        try await app.runService()
    }
}

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run one saga participant: catalog, promotion, identity, cart or notification.",
        discussion: """
            Example:
              ordersaga worker catalog \\
                --postgres-url postgresql://catalog_service:secret@127.0.0.1:5432/catalog_db \\
                --amqp-url amqp://catalog:secret@127.0.0.1:5672/ordersaga
            """)

    @Argument(help: "catalog, promotion, identity, cart or notification.") var participant: String
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Messages handled at once.") var concurrency = 8

    func validate() throws {
        guard Workers.handler(for: participant) != nil else {
            throw ValidationError("unknown participant \"\(participant)\"; one of: \(SagaTopology.participants.joined(separator: ", "))")
        }
    }

    func run() async throws {
        let logger = connection.logger(participant)
        let handler = Workers.handler(for: participant)!  // validate() checked the name
        let configuration = WorkerConfiguration(
            participant: participant, postgresURL: try connection.postgres(), amqp: try connection.amqp(), concurrency: concurrency)
        let group = ServiceGroup(
            services: CommandWorker.services(configuration: configuration, handler: handler, logger: logger),
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        logger.info("worker started", metadata: ["queue": "\(SagaTopology.commandQueue(participant))"])
        try await group.run()
    }
}

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply schema/shared and schema/<database> to a database; safe to run twice.",
        discussion: """
            Example:
              ordersaga migrate catalog --seed \\
                --postgres-url postgresql://catalog_service:secret@127.0.0.1:5432/catalog_db
            """)

    @Argument(help: "order, catalog, promotion, identity, cart or notification.") var database: String
    @Option(name: .customLong("postgres-url"), help: "The database's URL (or ORDERSAGA_POSTGRES_URL).") var postgresURL: String?
    @Option(help: "The schema folder.") var schema = "schema"
    @Flag(help: "Also load the demo data (seed.sql).") var seed = false

    func validate() throws {
        guard SchemaMigrations.databases.contains(database) else {
            throw ValidationError("unknown database \"\(database)\"; one of: \(SchemaMigrations.databases.joined(separator: ", "))")
        }
    }

    func run() async throws {
        guard let url = postgresURL ?? ProcessInfo.processInfo.environment["ORDERSAGA_POSTGRES_URL"] else {
            throw ValidationError("give --postgres-url or set ORDERSAGA_POSTGRES_URL")
        }
        let applied = try await SchemaMigrations.apply(
            schemaDirectory: URL(fileURLWithPath: schema), database: database, pool: PostgresPool(conninfo: url, size: 1),
            seed: seed, migrator: PostgresMigrator())
        print(applied.isEmpty ? "\(database): up to date" : "\(database): applied \(applied.joined(separator: ", "))")
    }
}

struct SetupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Create each service's database, role and RabbitMQ user, migrate, and declare the topology.",
        discussion: """
            Runs as the administrators of PostgreSQL and RabbitMQ, and is safe to run again: it creates
            what is missing, applies new migrations, resets each RabbitMQ user's password and rights,
            and declares the exchanges and queues of vhost ordersaga. The services themselves may
            configure nothing on the broker; they only check that their queues exist.
            The services' passwords are the local-development ones (<role>-secret, <user>-secret).

            Example:
              ordersaga setup --seed \\
                --postgres-admin-url postgresql://postgres:secret@127.0.0.1:5432/postgres \\
                --amqp-admin-url amqp://admin:secret@127.0.0.1:5672/ordersaga \\
                --management-url http://127.0.0.1:15672
            """)

    @Option(name: .customLong("postgres-admin-url"), help: "A PostgreSQL superuser's URL (or ORDERSAGA_POSTGRES_ADMIN_URL).")
    var postgresAdminURL: String?
    @Option(name: .customLong("amqp-admin-url"), help: "The RabbitMQ administrator's URL of the vhost (or ORDERSAGA_AMQP_ADMIN_URL).")
    var amqpAdminURL: String?
    @Option(name: .customLong("management-url"), help: "RabbitMQ's management API, http://host:port (or ORDERSAGA_MANAGEMENT_URL).")
    var managementURL: String?
    @Option(help: "The schema folder.") var schema = "schema"
    @Flag(help: "Also load the demo data (seed.sql).") var seed = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        func value(_ option: String?, _ variable: String, _ flag: String) throws -> String {
            guard let value = option ?? environment[variable] else { throw ValidationError("give --\(flag) or set \(variable)") }
            return value
        }
        let amqpURL = try value(amqpAdminURL, "ORDERSAGA_AMQP_ADMIN_URL", "amqp-admin-url")
        let amqp: AMQPConfiguration
        do {
            amqp = try AMQPConfiguration(url: amqpURL)
        } catch {
            throw ValidationError("--amqp-admin-url: \(error)")
        }
        let provisioner = Provisioner(
            postgresAdminURL: try value(postgresAdminURL, "ORDERSAGA_POSTGRES_ADMIN_URL", "postgres-admin-url"),
            amqpAdmin: amqp, managementURL: try value(managementURL, "ORDERSAGA_MANAGEMENT_URL", "management-url"))
        let accounts = ServiceAccount.development
        for (database, applied) in try await provisioner.setUpDatabases(
            accounts, schemaDirectory: URL(fileURLWithPath: schema), seed: seed
        ) {
            print(applied.isEmpty ? "\(database): up to date" : "\(database): applied \(applied.joined(separator: ", "))")
        }
        try await provisioner.setUpBroker(accounts)
        print("rabbitmq: vhost \(provisioner.vhost), users \(accounts.map(\.amqpUser).joined(separator: ", ")), topology declared")
    }
}

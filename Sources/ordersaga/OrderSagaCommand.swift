import AMQP
import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Messaging
import Observability
import OrderService
import Postgres
import Provisioning
import Retry
import ServiceLifecycle
import NotificationWorker
import Workers

@main
struct OrderSagaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ordersaga",
        abstract: "Set up, then run, the OrderSaga order service and its workers.",
        discussion: """
            Every process has its own PostgreSQL database and connects to RabbitMQ's vhost ordersaga. \
            Every setting comes from a flag (or --set KEY=VALUE), then its ORDERSAGA_* environment \
            variable, then its default: `ordersaga settings` lists them all.

            Run `ordersaga setup` once as the administrators first: the services may create nothing. \
            Then `ordersaga api-key create` makes the keys the REST API takes.

            Examples (each subcommand's --help has the whole lines):
              ordersaga setup --seed --postgres-admin-url URL --amqp-admin-url URL …
              ordersaga order-service --postgres-url URL --amqp-url URL
              ordersaga worker catalog --postgres-url URL --amqp-url URL
              ordersaga api-key create --name shop-frontend --scope checkout
              ordersaga read-model rebuild --postgres-url URL
            """,
        subcommands: [
            SetupCommand.self, OrderServiceCommand.self, WorkerCommand.self, APIKeyCommand.self, ReadModelCommand.self, MigrateCommand.self,
            SettingsCommand.self, DefinitionsCommand.self, ProbeCommand.self,
        ])

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

/// The options every service shares: its URLs, any setting as `--set KEY=VALUE`, the log level.
/// Flags win over `--set`, which wins over the environment (`ORDERSAGA_*`), then the defaults.
struct SettingsOptions: ParsableArguments {
    @Option(name: .customLong("postgres-url"), help: "PostgreSQL URL of this process's own database (or ORDERSAGA_POSTGRES_URL).")
    var postgresURL: String?

    @Option(name: .customLong("amqp-url"), help: "amqp://user:password@host:port/vhost (or ORDERSAGA_AMQP_URL; vhost %2F is /).")
    var amqpURL: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Any setting, e.g. --set relay.batchSize=200 (see `ordersaga settings`); repeatable.", valueName: "key=value"))
    var assignments: [String] = []

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        let known = Set(OrderSagaSettings.table.map(\.key))
        for assignment in assignments {
            guard let equals = assignment.firstIndex(of: "="), known.contains(String(assignment[..<equals])) else {
                throw ValidationError("--set \(assignment): expected KEY=VALUE with a key `ordersaga settings` lists")
            }
        }
    }

    /// The settings, with these options and `flags` (by key; `nil`: not given) over the environment.
    func reader(flags: [String: String?] = [:]) -> SettingsReader {
        var overrides: [String: String] = [:]
        for assignment in assignments {
            let parts = assignment.split(separator: "=", maxSplits: 1)
            overrides[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        let given = flags.merging([
            OrderSagaSettings.postgresURL.key: postgresURL, OrderSagaSettings.amqpURL.key: amqpURL,
        ]) { flag, _ in flag }
        for case let (key, value?) in given { overrides[key] = value }
        return SettingsReader(overrides: overrides)
    }

    /// Refuses a `--set` key that `process` has not read: once it has read every setting a process
    /// of its kind uses (whatever their values), such a key is one it never uses, and ignoring it
    /// would hide a mistake.
    func checkEverySetApplies(_ settings: SettingsReader, process: String) throws {
        let given = Dictionary(assignments.map { ($0.split(separator: "=", maxSplits: 1).map(String.init)[0], $0) }) { _, last in last }
        let unused = settings.unreadCommandLineKeys.compactMap { given[$0] }
        guard !unused.isEmpty else { return }
        let hint = unused.contains { $0.hasPrefix("http.port=") } && process.hasSuffix("worker") ? " (a worker's port is worker.httpPort)" : ""
        throw ValidationError(
            "--set \(unused.joined(separator: ", --set ")): the \(process) does not use \(unused.count == 1 ? "this setting" : "these settings")\(hint); `ordersaga settings` says what each one is for")
    }

    /// Arms the crash point `fault.crashAt` names, if any (fault tests only).
    func armCrashPoint(_ settings: SettingsReader) throws {
        do {
            try CrashPoint.arm(try settings.value(OrderSagaSettings.crashAt))
        } catch let error as CrashPointError {
            throw ValidationError(error.description)
        }
    }

    /// Sets up this process's logging (``OrderSagaSettings/logFormat``, `--log-level`) and returns
    /// the logger of `service`; every other `Logger` in the process writes the same way.
    func logger(_ service: String, settings: SettingsReader) throws -> Logger {
        let format = LogFormat(rawValue: try settings.value(OrderSagaSettings.logFormat)) ?? .auto
        ServiceLogHandler.bootstrap(service: service, format: format, level: logLevel)
        return Logger(label: service)
    }

    /// Sets up this process's tracer (``OrderSagaSettings/tracingEndpoint``) and returns the
    /// exporter to run first, so it stops last and flushes every span; `nil` when tracing is off.
    func tracing(_ service: String, settings: SettingsReader, logger: Logger) throws -> (any Service)? {
        try ProcessTracing.bootstrap(
            service: service, endpoint: try settings.value(OrderSagaSettings.tracingEndpoint),
            environment: ProcessInfo.processInfo.environment, logger: logger)
    }
}

/// Which queues the topology declares: `amqp.queueType` and `amqp.deliveryLimit`.
struct QueueOptions: ParsableArguments {
    @Option(help: "classic, or quorum for a RabbitMQ cluster (amqp.queueType; default classic).") var queueType: String?
    @Option(help: "Deliveries of one message a quorum queue allows before dead-lettering it (amqp.deliveryLimit; default 20).")
    var deliveryLimit: Int?

    var flags: [String: String] {
        var flags: [String: String] = [:]
        flags[OrderSagaSettings.queueType.key] = queueType
        flags[OrderSagaSettings.deliveryLimit.key] = deliveryLimit.map(String.init)
        return flags
    }
}

extension SettingsReader {
    /// The whole topology, with the queues the settings ask for.
    func topology() throws -> AMQPTopology {
        let kind = AMQPTopology.Queue.Kind(rawValue: try value(OrderSagaSettings.queueType)) ?? .classic
        return SagaTopology.all(queues: kind, deliveryLimit: try value(OrderSagaSettings.deliveryLimit))
    }

    /// A URL setting that has no default: given by `flag` or its environment variable.
    func required(_ setting: Setting<String>, flag: String) throws -> String {
        let value = try self.value(setting)
        guard !value.isEmpty else { throw ValidationError("give \(flag) or set \(setting.environmentVariable)") }
        return value
    }

    /// The broker connection: the URL, with the heartbeat and reconnect settings.
    func amqp(_ setting: Setting<String> = OrderSagaSettings.amqpURL, flag: String = "--amqp-url") throws -> AMQPConfiguration {
        var configuration: AMQPConfiguration
        do {
            configuration = try AMQPConfiguration(url: try required(setting, flag: flag))
        } catch let error as AMQPError {
            throw ValidationError("\(flag): \(SettingsReader.redactingPasswords("\(error)"))")
        }
        configuration.heartbeat = Int(try value(OrderSagaSettings.amqpHeartbeat).components.seconds)
        let delay = try value(OrderSagaSettings.amqpMaxReconnectDelay)
        configuration.maxReconnectDelay = delay.inSeconds
        return configuration
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
                --amqp-url amqp://order-service:secret@127.0.0.1:5672/ordersaga \\
                --set relay.batchSize=200
            """)

    @OptionGroup var options: SettingsOptions
    @Option(help: "Address to listen on (http.host; default 127.0.0.1).") var host: String?
    @Option(help: "HTTP port (http.port; default 8080).") var port: Int?
    @Option(help: "Folder with the saga definitions (sagas.directory; default sagas).") var sagas: String?
    @Option(help: "PostgreSQL connections in the pool (orderService.poolSize; default 8).") var poolSize: Int?

    func run() async throws {
        typealias S = OrderSagaSettings
        let settings = options.reader(flags: [
            S.host.key: host, S.port.key: port.map(String.init), S.sagasDirectory.key: sagas, S.orderPoolSize.key: poolSize.map(String.init),
        ])
        let logger = try options.logger("order-service", settings: settings)
        var configuration = OrderServiceConfiguration(
            host: try settings.value(S.host), port: try settings.value(S.port),
            postgresURL: try settings.required(S.postgresURL, flag: "--postgres-url"), amqp: try settings.amqp(),
            sagasDirectory: URL(fileURLWithPath: try settings.value(S.sagasDirectory)),
            poolSize: try settings.value(S.orderPoolSize), sweepInterval: try settings.value(S.sweepInterval),
            sweepBatchSize: try settings.value(S.sweepBatchSize), bodyLimit: try settings.value(S.bodyLimit),
            retryAfter: try settings.value(S.retryAfter), maxInFlight: try settings.value(S.maxInFlight),
            rateLimit: try settings.value(S.rateLimit), messaging: try MessagingSettings(settings))
        configuration.cancelWindow = try settings.value(S.cancelWindow)
        configuration.cartServiceURL = try settings.value(S.cartServiceURL)
        configuration.tokens = .init(
            secret: try settings.value(S.jwtSecret), publicKeyFile: try settings.value(S.jwtPublicKey), audience: try settings.value(S.jwtAudience))
        try options.armCrashPoint(settings)
        ProcessMetrics.bootstrap(configuration.metricsRegistry)  // before any pool or connection exists
        let tracing = try options.tracing("order-service", settings: settings, logger: logger)
        try options.checkEverySetApplies(settings, process: "order service")
        // A port another process holds stops it now, before it opens its database and broker.
        try WorkerHTTP.checkAvailable(host: configuration.host, port: configuration.port, serving: "the REST API", setting: "http.port, or --port")
        let app = try await buildOrderService(configuration, logger: logger)
        let group = ServiceGroup(services: [tracing].compactMap { $0 } + [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
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
              curl http://127.0.0.1:9101/ready      # its health, readiness and metrics (worker.httpPort)
              curl -H "Authorization: Bearer $KEY" 127.0.0.1:9101/api/v1/products

            Each worker serves its own REST API on that port (catalog: products and stock; promotion: coupons; identity: customers and cards; cart: carts; notification: templates and what was sent), and asks the order service about each credential (worker.orderServiceUrl).
            """)

    @Argument(help: "catalog, promotion, identity, cart or notification.") var participant: String
    @OptionGroup var options: SettingsOptions
    @Option(help: "Messages handled at once (consumer.concurrency; default 8).") var concurrency: Int?
    @Option(help: "PostgreSQL connections in the pool (worker.poolSize; default 4).") var poolSize: Int?

    func validate() throws {
        guard Workers.handler(for: participant) != nil else {
            throw ValidationError("unknown participant \"\(participant)\"; one of: \(SagaTopology.participants.joined(separator: ", "))")
        }
    }

    func run() async throws {
        typealias S = OrderSagaSettings
        let settings = options.reader(flags: [S.concurrency.key: concurrency.map(String.init), S.workerPoolSize.key: poolSize.map(String.init)])
        let logger = try options.logger(participant, settings: settings)
        // Every setting read before anything is made: a bad one stops the worker having changed nothing.
        let notifies = participant == "notification"
        let mail = notifies ? try settings.value(S.mailDirectory) : ""
        let mailDirectory = mail.isEmpty ? nil : URL(fileURLWithPath: mail)
        let mailRetention = notifies ? try settings.value(S.mailRetention) : S.mailRetention.defaultValue
        let configuration = WorkerConfiguration(
            participant: participant, postgresURL: try settings.required(S.postgresURL, flag: "--postgres-url"), amqp: try settings.amqp(),
            poolSize: try settings.value(S.workerPoolSize), messaging: try MessagingSettings(settings))
        let handler = Workers.handler(for: participant, mailDirectory: mailDirectory)!  // validate() checked the name
        if participant == "notification" {
            if let mailDirectory {
                do {
                    try MailDirectoryDelivery(folder: mailDirectory).checkWritable()
                } catch {
                    throw DeliveryError(description: "\(error) (notification.mailDirectory; empty: record notifications without delivering them)")
                }
            }
            logger.info("notifications are delivered", metadata: ["folder": "\(mail.isEmpty ? "(none)" : mail)", "setting": "notification.mailDirectory"])
        }
        try options.armCrashPoint(settings)
        let metrics = WorkerMetrics()
        ProcessMetrics.bootstrap(metrics.registry)  // before any pool or connection exists
        let tracing = try options.tracing(participant, settings: settings, logger: logger)
        let runtime = CommandWorker.build(configuration: configuration, handler: handler, logger: logger, events: metrics.events)
        var services = [tracing].compactMap { $0 } + runtime.services
        if participant == "notification", let mailDirectory {
            services.append(MailRetention(
                delivery: MailDirectoryDelivery(folder: mailDirectory), retention: mailRetention, logger: logger))
        }
        // Read (and checked) even when worker.httpPort is -1: a worker uses them, whatever its port.
        let port = try settings.value(S.workerHTTPPort)
        let host = try settings.value(S.host)
        let orderService = try settings.value(S.orderServiceURL)
        let api = WorkerHTTP.Settings(
            orderService: orderService.isEmpty ? nil : orderService, bodyLimit: try settings.value(S.bodyLimit),
            retryAfter: try settings.value(S.retryAfter))
        try options.checkEverySetApplies(settings, process: "\(participant) worker")
        if port >= 0 {
            let port = port == 0 ? WorkerHTTP.defaultPort(of: participant) : port
            // Named before it binds, so "address already in use" after it says which setting to change.
            logger.info("serving its REST API, /health, /ready and /metrics", metadata: ["address": "\(host):\(port)", "setting": "worker.httpPort"])
            try WorkerHTTP.checkAvailable(host: host, port: port)
            // Last, so it stops first: /ready answers 503 no longer than the worker runs.
            services.append(WorkerHTTP.application(
                participant: participant, host: host, port: port, runtime: runtime, metrics: metrics, logger: logger, api: api))
        }
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
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
        let url = try SettingsReader(overrides: postgresURL.map { [OrderSagaSettings.postgresURL.key: $0] } ?? [:])
            .required(OrderSagaSettings.postgresURL, flag: "--postgres-url")
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
            Runs as the administrators of PostgreSQL and RabbitMQ, and is safe to run again: it creates \
            what is missing, applies new migrations, resets each RabbitMQ user's password and rights, \
            and declares the exchanges and queues of vhost ordersaga. The services themselves may \
            configure nothing on the broker; they only check that their queues exist. \
            The services' passwords are the local-development ones (<role>-secret, <user>-secret).

            Example:
              ordersaga setup --seed \\
                --postgres-admin-url postgresql://postgres:secret@127.0.0.1:5432/postgres \\
                --amqp-admin-url amqp://admin:secret@127.0.0.1:5672/ordersaga \\
                --management-url http://127.0.0.1:15672

              # On a RabbitMQ cluster: replicated quorum queues, and any node of the list.
              ordersaga setup --queue-type quorum \\
                --amqp-admin-url \\
                  amqp://admin:secret@node1:5672,node2:5672,node3:5672/ordersaga

              # Docker compose: RabbitMQ loaded its definitions file; PostgreSQL only.
              ordersaga setup --seed --skip-broker --postgres-admin-url …
            """)

    @Option(name: .customLong("postgres-admin-url"), help: "A PostgreSQL superuser's URL (or ORDERSAGA_POSTGRES_ADMIN_URL).")
    var postgresAdminURL: String?
    @Option(name: .customLong("amqp-admin-url"), help: "The RabbitMQ administrator's URL of the vhost (or ORDERSAGA_AMQP_ADMIN_URL).")
    var amqpAdminURL: String?
    @Option(name: .customLong("management-url"), help: "RabbitMQ's management API, http://host:port (or ORDERSAGA_MANAGEMENT_URL).")
    var managementURL: String?
    @Option(help: "The schema folder.") var schema = "schema"
    @Flag(help: "Also load the demo data (seed.sql).") var seed = false
    @Flag(help: "Set up only PostgreSQL: RabbitMQ loaded its definitions file itself (docker compose; see `ordersaga definitions`).")
    var skipBroker = false
    @OptionGroup var queues: QueueOptions

    func run() async throws {
        typealias S = OrderSagaSettings
        var flags: [String: String] = [:]
        flags[S.postgresAdminURL.key] = postgresAdminURL
        flags[S.amqpAdminURL.key] = amqpAdminURL
        flags[S.managementURL.key] = managementURL
        let settings = SettingsReader(overrides: flags.merging(queues.flags) { $1 })
        let provisioner = Provisioner(
            postgresAdminURL: try settings.required(S.postgresAdminURL, flag: "--postgres-admin-url"),
            amqpAdmin: skipBroker ? AMQPConfiguration() : try settings.amqp(S.amqpAdminURL, flag: "--amqp-admin-url"),
            managementURL: skipBroker ? "" : try settings.required(S.managementURL, flag: "--management-url"))
        let accounts = ServiceAccount.development
        for (database, applied) in try await provisioner.setUpDatabases(
            accounts, schemaDirectory: URL(fileURLWithPath: schema), seed: seed
        ) {
            print(applied.isEmpty ? "\(database): up to date" : "\(database): applied \(applied.joined(separator: ", "))")
        }
        if skipBroker { return }
        let topology = try settings.topology()
        try await provisioner.setUpBroker(accounts, topology: topology)
        print("rabbitmq: vhost \(provisioner.vhost), users \(accounts.map(\.amqpUser).joined(separator: ", ")), topology declared (\(topology.queues[0].kind) queues)")
    }
}

struct DefinitionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "definitions",
        abstract: "Print what `ordersaga setup` creates on RabbitMQ, as a definitions file it can load at boot.",
        discussion: """
            The vhost, the administrator, one user per service with only its rights, and every \
            exchange, queue and binding, with passwords as salted SHA-256 hashes. The repository's \
            deploy/rabbitmq/definitions.json is this output with the defaults (a test checks it); \
            docker-compose.yml mounts it with deploy/rabbitmq/rabbitmq.conf.

            Examples:
              ordersaga definitions > deploy/rabbitmq/definitions.json
              ordersaga definitions --queue-type quorum > definitions.json   # for a RabbitMQ cluster
              ordersaga definitions --admin-password "$ADMIN_PASSWORD" --output /etc/rabbitmq/definitions.json
            """)

    @Option(help: "The vhost.") var vhost = "ordersaga"
    @Option(help: "The administrator's user name.") var adminUser = "admin"
    @Option(help: "The administrator's password (the default is the local-development one).") var adminPassword = "ordersaga-admin"
    @Option(help: "Write to this file instead of standard output.") var output: String?
    @OptionGroup var queues: QueueOptions

    func run() throws {
        let text = try BrokerDefinitions(
            vhost: vhost, administrator: (adminUser, adminPassword), accounts: ServiceAccount.development,
            topology: try SettingsReader(overrides: queues.flags).topology()
        ).json()
        if let output {
            // Written whole or not at all (atomically), with the reason a person can act on.
            let folder = URL(fileURLWithPath: output).deletingLastPathComponent().path
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
                throw ValidationError("--output \(output): the folder \(folder) does not exist")
            }
            do {
                try text.write(toFile: output, atomically: true, encoding: .utf8)
            } catch {
                throw ValidationError("--output \(output): cannot write it (\(error.localizedDescription))")
            }
        } else {
            print(text, terminator: "")
        }
    }
}

struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Exit 0 if a URL answers 2xx within the timeout: a health check for images without curl.",
        discussion: """
            Examples:
              ordersaga probe http://127.0.0.1:8080/ready     # the order service
              ordersaga probe http://127.0.0.1:9101/health    # the catalog worker
            """)

    @Argument(help: "The URL to GET.") var url: String
    @Option(help: "Seconds to wait for an answer.") var timeout: Double = 3

    func validate() throws {
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? "") else {
            throw ValidationError("\"\(url)\" is not an http:// URL")
        }
        guard timeout > 0 else { throw ValidationError("--timeout must be more than 0 seconds") }
    }

    func run() async throws {
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = timeout
        let status: Int
        do {
            let (_, response) = try await URLSession.shared.data(for: request)
            status = (response as? HTTPURLResponse)?.statusCode ?? 0
        } catch {
            print("\(url): \(error.localizedDescription)")
            throw ExitCode(1)
        }
        print("\(url): HTTP \(status)")
        if !(200..<300).contains(status) { throw ExitCode(1) }
    }
}

struct SettingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "List every setting: key, environment variable, default and meaning.",
        discussion: """
            A setting comes from a flag or --set KEY=VALUE, then its environment variable, then its \
            default. A value that does not parse stops the process, naming the key.

            Example:
              ORDERSAGA_RELAY_BATCH_SIZE=200 ordersaga worker catalog \\
                --set consumer.prefetch=32 …
            """)

    func run() {
        let rows = OrderSagaSettings.table
        let keyWidth = rows.map(\.key.count).max() ?? 0
        let variableWidth = rows.map(\.environment.count).max() ?? 0
        let defaultWidth = rows.map(\.defaultValue.count).max() ?? 0
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        print("\(pad("KEY", keyWidth))  \(pad("ENVIRONMENT", variableWidth))  \(pad("DEFAULT", defaultWidth))  MEANING")
        for row in rows {
            print("\(pad(row.key, keyWidth))  \(pad(row.environment, variableWidth))  \(pad(row.defaultValue, defaultWidth))  \(row.help)")
        }
    }
}

import AMQP
import ArgumentParser
import Chaos
import Foundation
import Logging
import SagaInvariants

/// `saga-chaos`: drives checkouts through a running OrderSaga while injecting faults from a seed,
/// then proves nothing was lost or done twice. `scripts/chaos` runs it against the local system.
@main
struct SagaChaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "saga-chaos",
        abstract: "Inject faults into a running OrderSaga under load, then check that no saga was lost or applied twice.",
        discussion: """
            Prints one line of figures and exits 1 when lost, duplicates or violations is not 0. \
            The same --seed replays the same plan: which checkouts fail where, and which faults come \
            in which order after which pauses.

            Faults that kill and start processes or restart PostgreSQL and RabbitMQ need --control, a \
            command answering `kill SERVICE...`, `start SERVICE [--set K=V]`, `running SERVICE`, \
            `restart-rabbitmq`, `restart-postgres`, `stop-postgres` and `start-postgres` (scripts/run \
            does, for the local system). \
            Without it, only duplicate and malformed messages are injected.

            Example (what scripts/chaos runs; --database for each of the six):
              saga-chaos --url http://127.0.0.1:8080 --control scripts/run \\
                --database order=postgresql://order_service:…@127.0.0.1:15430/order_db … \\
                --amqp-admin-url amqp://admin:…@127.0.0.1:15660/ordersaga \\
                --management-url http://127.0.0.1:15680
            """)

    @Option(help: "The order service's base URL.") var url = "http://127.0.0.1:8080"
    @Option(name: .customLong("database"), help: ArgumentHelp("NAME=URL of each of the six databases (order, catalog, promotion, identity, cart, notification).", valueName: "name=url"))
    var databases: [String] = []
    @Option(name: .customLong("amqp-admin-url"), help: "The RabbitMQ administrator's URL of the vhost.") var amqpAdminURL: String
    @Option(name: .customLong("management-url"), help: "RabbitMQ's management API.") var managementURL: String
    @Option(help: "The control command for process and server faults.") var control: String?
    @Option(help: "The API key to place checkouts and retry sagas with, scopes checkout and admin, --rate-limit 0 (default: $ORDERSAGA_API_KEY).")
    var apiKey: String?
    @Option(help: "The plan's seed (default: a random one, printed).") var seed: UInt64?
    @Option(help: "Checkouts placed at least (more while faults last).") var sagas = 150
    @Option(help: "Faults injected, every kind in turn.") var faults = FaultKind.allCases.count
    @Option(help: "Checkouts per second.") var rate = 10.0
    @Option(help: "Checkouts posted at once.") var concurrency = 16
    @Option(help: "Share of checkouts that fail, at each step in turn.") var failShare = 0.3
    @Option(help: "Seconds to wait for quiescence after the faults.") var quiesceTimeout = 300
    @Option(help: ArgumentHelp("Only these fault kinds (comma-separated): \(FaultKind.allCases.map(\.rawValue).joined(separator: ", ")).", valueName: "kinds"))
    var kinds: String?

    func validate() throws {
        guard sagas > 0, faults >= 0, rate > 0, concurrency > 0, (0...1).contains(failShare) else {
            throw ValidationError("--sagas, --rate and --concurrency must be positive, --faults at least 0, --fail-share from 0 to 1")
        }
        for kind in selectedKinds where kind == nil { throw ValidationError("--kinds: one of \(FaultKind.allCases.map(\.rawValue).joined(separator: ", "))") }
    }

    var selectedKinds: [FaultKind?] {
        kinds.map { $0.split(separator: ",").map { FaultKind(rawValue: String($0)) } } ?? FaultKind.allCases
    }

    func run() async throws {
        let systemDatabases: SystemDatabases
        do {
            systemDatabases = try SystemDatabases(arguments: databases)
        } catch let error as InvariantError {
            throw ValidationError(error.description)
        }
        var options = ChaosOptions()
        options.sagas = sagas
        options.faults = faults
        options.rate = rate
        options.concurrency = concurrency
        options.failShare = failShare
        options.quiesceTimeout = .seconds(quiesceTimeout)
        options.kinds = selectedKinds.compactMap { $0 }.filter { control != nil || !$0.needsControl }
        let target = ChaosTarget(
            apiURL: url, databases: systemDatabases, amqpAdmin: try AMQPConfiguration(url: amqpAdminURL),
            managementURL: managementURL, control: control, apiKey: apiKey ?? ProcessInfo.processInfo.environment["ORDERSAGA_API_KEY"])
        var logger = Logger(label: "saga-chaos")
        logger.logLevel = .error
        let report = try await ChaosRun(target: target, options: options, seed: seed ?? UInt64.random(in: 1...999_999), logger: logger).run()
        for line in report.refused.prefix(20) { print("refused: \(line)") }
        for line in report.violations.prefix(50) { print("violation: \(line)") }
        print(report.line)
        if !report.passed { throw ExitCode(1) }
    }
}

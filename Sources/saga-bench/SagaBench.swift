import ArgumentParser
import Bench
import Foundation
import SagaInvariants
import Workload

/// `saga-bench`: measures a running OrderSaga and proves what it measured. `scripts/bench` starts
/// the system, runs it at several concurrencies and keeps the results.
@main
struct SagaBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "saga-bench",
        abstract: "Measure saga throughput and latency against a running OrderSaga, and check every saga ended right.",
        discussion: """
            Closed model (--concurrency C): C sagas in flight, each client placing its next checkout when \
            its saga ended. Open model (--rate R): R checkouts a second whatever happens, so queueing shows. \
            The first --warmup sagas are not measured. Then it waits for every saga to end, checks DESIGN.md's \
            invariants for them across the six databases, and prints one JSON line; when a saga did not end \
            or an invariant broke it prints the problems instead of figures and exits 1.

            Example (what scripts/bench runs; --database for each of the six):
              saga-bench --url http://127.0.0.1:8080 --concurrency 32 --sagas 2000 \\
                --database order=postgresql://order_service:…@127.0.0.1:15430/order_db … \\
                --process order-service=1234 --process postgresql=987 … \\
                --management-url http://127.0.0.1:15680 \\
                --management-user admin --management-password …
            """)

    @Option(help: "An order service's base URL; repeated for several instances, which take checkouts in turn (default http://127.0.0.1:8080).")
    var url: [String] = []
    @Option(name: .customLong("database"), help: ArgumentHelp("NAME=URL of each of the six databases.", valueName: "name=url"))
    var databases: [String] = []
    @Option(help: "Sagas in flight (closed model).") var concurrency: Int?
    @Option(help: "Checkouts per second (open model).") var rate: Double?
    @Option(help: "Sagas measured.") var sagas = 2000
    @Option(help: "Seconds to measure for, instead of --sagas (the closed model prepares for up to 1000 sagas a second).")
    var duration: Double?
    @Option(help: "Sagas placed first and not measured.") var warmup = 200
    @Option(help: ArgumentHelp("Share refused at a step: reserve-inventory, validate-coupon, payment or cart-convert (repeatable; default payment=0.1).", valueName: "step=share"))
    var fail: [String] = []
    @Option(help: "Seed of which checkouts fail.") var seed: UInt64 = 1
    @Option(name: .customLong("process"), help: ArgumentHelp("NAME=PID of a process to measure (repeatable).", valueName: "name=pid"))
    var processes: [String] = []
    @Option(name: .customLong("management-url"), help: "RabbitMQ's management API, for messages per saga.") var managementURL: String?
    @Option(name: .customLong("management-user")) var managementUser = "admin"
    @Option(name: .customLong("management-password")) var managementPassword = ""
    @Option(help: "A label for the result line.") var label = ""
    @Option(help: "The API key to place checkouts with, scope checkout and --rate-limit 0 (default: $ORDERSAGA_API_KEY).")
    var apiKey: String?
    @Option(help: "Seconds to wait for a saga to end.") var timeout = 300

    func validate() throws {
        if concurrency != nil && rate != nil { throw ValidationError("give --concurrency or --rate, not both") }
        guard sagas > 0, warmup >= 0, (concurrency ?? 1) > 0, (rate ?? 1) > 0, (duration ?? 1) > 0 else {
            throw ValidationError("--sagas, --duration, --concurrency and --rate must be positive, --warmup at least 0")
        }
        _ = try failures()
    }

    func failures() throws -> [CheckoutOutcome: Double] {
        guard !fail.isEmpty else { return [.failsAtPayment: 0.1] }
        var failures: [CheckoutOutcome: Double] = [:]
        for entry in fail {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let outcome = CheckoutOutcome(failingAt: parts[0]), let share = Double(parts[1]), (0...1).contains(share) else {
                throw ValidationError("--fail \(entry): expected STEP=SHARE with STEP one of reserve-inventory, validate-coupon, payment, cart-convert and SHARE from 0 to 1")
            }
            failures[outcome] = share
        }
        guard failures.values.reduce(0, +) <= 1 else { throw ValidationError("--fail: the shares add up to more than 1") }
        return failures
    }

    func run() async throws {
        let systemDatabases: SystemDatabases
        do {
            systemDatabases = try SystemDatabases(arguments: databases)
        } catch let error as InvariantError {
            throw ValidationError(error.description)
        }
        var options = BenchOptions()
        options.model = rate.map { .open(perSecond: $0) } ?? .closed(concurrency: concurrency ?? 32)
        options.sagas = sagas
        if let duration {
            options.duration = .seconds(duration)
            options.sagas = max(1, Int((duration * (rate ?? 1000)).rounded(.up)))
        }
        options.warmup = warmup
        options.failures = try failures()
        options.seed = seed
        options.timeout = .seconds(timeout)
        options.label = label
        options.apiKey = apiKey ?? ProcessInfo.processInfo.environment["ORDERSAGA_API_KEY"]
        for entry in processes {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let pid = Int32(parts[1]) else { throw ValidationError("--process \(entry): expected NAME=PID") }
            options.processes[parts[0]] = pid
        }
        let bench = BenchRun(
            apiURLs: url.isEmpty ? ["http://127.0.0.1:8080"] : url, databases: systemDatabases,
            management: managementURL.map { ($0, managementUser, managementPassword) }, options: options)
        let result = try await bench.run { FileHandle.standardError.write(Data("bench: \($0)\n".utf8)) }
        print(result.json)
        if !result.valid { throw ExitCode(1) }
    }
}

import AMQP
import CheckoutContracts
import DeadLetters
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Messaging
import Postgres
import Provisioning
import Retry
import SagaInvariants
import Synchronization
import Workload

/// How big a chaos run is.
public struct ChaosOptions: Sendable {
    /// Checkouts placed at least; the stream goes on until the last fault is over.
    public var sagas = 150
    /// Checkouts posted at once.
    public var concurrency = 16
    /// Checkouts per second.
    public var rate = 10.0
    public var failShare = 0.3
    public var faults = 9
    public var kinds = FaultKind.allCases
    /// How long to wait, after the faults, for every saga to end and every queue to empty.
    public var quiesceTimeout: Duration = .seconds(300)

    public init() {}
}

/// A chaos run: a stream of checkouts (most succeed, the rest fail at each step in turn) while the
/// plan's faults are injected one after another; then it waits for quiescence, lets the operator
/// retry whatever parked FAILED, and checks across the six databases and the broker that no saga
/// was lost, nothing happened twice and every invariant holds.
public struct ChaosRun: Sendable {
    public let target: ChaosTarget
    public let options: ChaosOptions
    public let plan: ChaosPlan
    /// Tells apart this run's carts and message ids from every other run's.
    let run: String
    let fixtures: CheckoutFixtures
    let session: URLSession
    let logger: Logger

    public init(target: ChaosTarget, options: ChaosOptions, seed: UInt64, logger: Logger) {
        self.target = target
        self.options = options
        self.plan = ChaosPlan(seed: seed, sagas: options.sagas, failShare: options.failShare, faultCount: options.faults, kinds: options.kinds)
        self.run = String(UInt64(Date().timeIntervalSince1970 * 1000), radix: 36)
        self.fixtures = CheckoutFixtures(databases: target.databases, prefix: "chaos", run: run)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 15
        configuration.httpMaximumConnectionsPerHost = options.concurrency
        self.session = URLSession(configuration: configuration)
        self.logger = logger
    }

    /// What happened while it ran, shared by the load, the faults and the checks.
    final class Tally: Sendable {
        struct State {
            var accepted: [Int: String] = [:]
            var http5xx = 0
            var refused: [String] = []
            var faults: [FaultKind: Int] = [:]
            var crashPointsHit = 0
            var poison: [String: String] = [:]  // message id → its dead-letter queue
            var faultsOver = false
            var nextCheckout = 0
        }
        let state = Mutex(State())
        func with<T>(_ body: (inout State) -> T) -> T { state.withLock { body(&$0) } }
    }

    public func run() async throws -> ChaosReport {
        say("seed \(plan.seed): \(plan.faults.count) faults, at least \(options.sagas) checkouts at \(options.rate)/s, \(options.concurrency) at a time")
        for (index, fault) in plan.faults.enumerated() { say("  plan \(index + 1): \(fault)") }
        try await fixtures.prepare()
        let since = try await target.now()
        let initialStock = try await SagaInvariants.stock(in: target.databases)
        let deadLetters = DeadLetterQueues(managementURL: target.managementURL, amqp: target.amqpAdmin)
        let deadBefore = try await deadLetterIDs(deadLetters)
        let tally = Tally()
        let broker = AMQPConnection(configuration: target.amqpAdmin, logger: logger)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await broker.run() }
            group.addTask { try await load(tally) }
            await broker.waitUntilConnected()
            do {
                try await injectFaults(tally, broker: broker)
            } catch {
                tally.with { $0.faultsOver = true }
                throw error
            }
            tally.with { $0.faultsOver = true }
            // The load ends once the faults are over and enough checkouts were placed.
            try await group.next()
            broker.stop()
            try await group.waitForAll()
        }

        say("faults over; waiting for every saga to end and every queue to empty")
        let clock = ContinuousClock()
        let quiesceStart = clock.now
        let (quiet, operatorRetries) = try await quiesce(since: since)
        let quiesce = clock.now - quiesceStart
        return try await throughOutages {
            try await check(
            tally, since: since, initialStock: initialStock, deadLetters: deadLetters, deadBefore: deadBefore,
            quiet: quiet, operatorRetries: operatorRetries, quiesce: quiesce)
        }
    }

    /// Runs `body` again while PostgreSQL or RabbitMQ is away (a fault this run injected), for up to a minute.
    func throughOutages<T>(_ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch let error as PostgresError where error.isUnavailable && attempt < 120 {
                attempt += 1
            } catch let error as AMQPError where attempt < 120 {
                _ = error
                attempt += 1
            }
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    func say(_ text: String) {
        FileHandle.standardError.write(Data("chaos: \(text)\n".utf8))
    }

    // MARK: Load

    /// Places checkouts at `rate`, `concurrency` at a time, until at least `sagas` were placed and
    /// the faults are over. A checkout the service could not take (down, 503, connection lost) is
    /// posted again with the same Idempotency-Key, so it is counted once.
    func load(_ tally: Tally) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<options.concurrency {
                group.addTask {
                    while true {
                        let (index, over) = tally.with { state in
                            defer { state.nextCheckout += 1 }
                            return (state.nextCheckout, state.faultsOver)
                        }
                        if index >= options.sagas && over { return }
                        try await clock.sleep(until: start + .milliseconds(Int(Double(index) * 1000 / options.rate)))
                        try await place(index, tally)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    func place(_ index: Int, _ tally: Tally) async throws {
        let outcome = plan.checkouts[index % plan.checkouts.count]
        if outcome != .failsAtCartConvert {
            try await throughOutages { try await fixtures.openCarts([index]) }
        }
        var request = URLRequest(url: URL(string: target.apiURL + "/api/v1/checkout")!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("chaos-\(run)-\(index)", forHTTPHeaderField: "Idempotency-Key")
        request.httpBody = try fixtures.body(index, outcome)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(300)
        var wait = Duration.milliseconds(200)
        while clock.now < deadline {
            if let (data, response) = try? await session.fetch(target.authorized(request)), let http = response as? HTTPURLResponse {
                switch http.statusCode {
                case 200, 202:
                    let answer = try JSONSerialization.jsonObject(with: data) as? [String: Any]
                    let saga = answer?["sagaId"] as? String ?? ""
                    tally.with { $0.accepted[index] = saga }
                    return
                case 429, 500...:
                    if http.statusCode >= 500 { tally.with { $0.http5xx += 1 } }
                default:
                    let text = String(decoding: data, as: UTF8.self)
                    tally.with { $0.refused.append("checkout \(index) (\(outcome.rawValue)): HTTP \(http.statusCode) \(text.prefix(300))") }
                    return
                }
            }
            try await Task.sleep(for: wait)
            wait = min(wait * 2, .seconds(2))
        }
        tally.with { $0.refused.append("checkout \(index): not accepted within 300 s") }
    }

    // MARK: Faults

    func injectFaults(_ tally: Tally, broker: AMQPConnection) async throws {
        for (index, fault) in plan.faults.enumerated() {
            try await Task.sleep(for: .milliseconds(fault.gapMilliseconds))
            let placed = tally.with { $0.accepted.count }
            say("fault \(index + 1)/\(plan.faults.count): \(fault.kind.rawValue) \(fault.targets.joined(separator: ","))\(fault.crashPoint.map { " at \($0)" } ?? "") (\(placed) checkouts placed)")
            try await inject(fault, number: index, tally, broker: broker)
            tally.with { $0.faults[fault.kind, default: 0] += 1 }
            try await waitUntilReady()
        }
    }

    func inject(_ fault: Fault, number: Int, _ tally: Tally, broker: AMQPConnection) async throws {
        switch fault.kind {
        case .killOrderService, .killWorker, .killSeveral:
            try await target.control(["kill"] + fault.targets)
            try await Task.sleep(for: .milliseconds(300))
            for service in fault.targets { try await target.control(["start", service]) }
        case .crashPoint:
            let service = fault.targets[0]
            try await target.control(["kill", service])
            try await target.control(["start", service, "--set", "fault.crashAt=\(fault.crashPoint ?? "")"])
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(30)
            var died = false
            while clock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                if try await !target.isRunning(service) {
                    died = true
                    break
                }
            }
            if died { tally.with { $0.crashPointsHit += 1 } } else { say("  \(service) did not reach \(fault.crashPoint ?? "") within 30 s") }
            try await target.control(["kill", service])
            try await target.control(["start", service])
        case .restartRabbitMQ:
            try await target.control(["restart-rabbitmq"])
        case .restartPostgres:
            try await target.control(["restart-postgres"])
        case .postgresOutage:
            try await target.control(["stop-postgres"])
            do {
                try await target.control(["kill"] + fault.targets)
                for service in fault.targets { try await target.control(["start", service]) }
                try await Task.sleep(for: .milliseconds(fault.holdMilliseconds))
            } catch {
                _ = try? await target.control(["start-postgres"])
                throw error
            }
            try await target.control(["start-postgres"])
        case .brokerAlarm:
            try await target.control(["block-rabbitmq"])
            do {
                try await Task.sleep(for: .milliseconds(fault.holdMilliseconds / 2))
                try await target.control(["kill"] + fault.targets)
                for service in fault.targets { try await target.control(["start", service]) }
                try await Task.sleep(for: .milliseconds(fault.holdMilliseconds - fault.holdMilliseconds / 2))
            } catch {
                _ = try? await target.control(["unblock-rabbitmq"])
                throw error
            }
            try await target.control(["unblock-rabbitmq"])
        case .compensationOutage:
            try await target.control(["kill", "identity"])
            try await Task.sleep(for: .milliseconds(fault.holdMilliseconds))
            try await target.control(["start", "identity"])
        case .duplicateMessage:
            // In turn a command to the participant, and its reply to the order service.
            if number % 2 == 0 {
                try await publishCopy(toward: fault.targets[0], broker: broker)
            } else {
                try await publishReplyCopy(from: fault.targets[0], broker: broker)
            }
        case .malformedMessage:
            let participant = fault.targets[0]
            let id = "chaos-poison-\(run)-\(number)"
            // A real command name, so the handler is found and it is the body that cannot be read.
            let command = CheckoutContracts.participants[participant]?.sorted().first ?? "\(participant).command"
            try await publish(AMQPOutgoingMessage(
                exchange: SagaTopology.commandsExchange, routingKey: participant, body: Array("{\"chaos\": \"not a command".utf8),
                properties: AMQPProperties(
                    messageID: id, correlationID: UUID().uuidString.lowercased(), type: command, contentType: "application/json",
                    replyTo: SagaTopology.repliesQueue,
                    headers: ["step": .string("chaos"), "phase": .string("command"), "attempt": .int(1)])), broker: broker)
            tally.with { $0.poison[id] = SagaTopology.deadLetterQueue(SagaTopology.commandQueue(participant)) }
        }
    }

    /// Publishes again a command the order service already sent to `participant`: its inbox must
    /// drop the copy.
    func publishCopy(toward participant: String, broker: AMQPConnection) async throws {
        let rows = try await throughOutages {
            try await target.databases.order.query(
                """
                SELECT message_id, exchange, routing_key, type, correlation_id, reply_to, headers::text AS headers, body, mandatory
                FROM outbox WHERE exchange = $1 AND routing_key = $2 AND published_at IS NOT NULL ORDER BY id DESC LIMIT 1
                """, [SagaTopology.commandsExchange, participant])
        }
        guard let row = rows.first else {
            say("  no command to \(participant) published yet: nothing to duplicate")
            return
        }
        try await publish(try OutboxRelay.message(from: row, at: Date()), broker: broker)
    }

    /// Publishes again a reply `participant` already sent: the order service's inbox must drop it.
    func publishReplyCopy(from participant: String, broker: AMQPConnection) async throws {
        guard let pool = target.databases.pool(participant) else { return }
        let rows = try await throughOutages {
            try await pool.query(
                """
                SELECT message_id, exchange, routing_key, type, correlation_id, reply_to, headers::text AS headers, body, mandatory
                FROM outbox WHERE exchange = $1 AND published_at IS NOT NULL ORDER BY id DESC LIMIT 1
                """, [SagaTopology.repliesExchange])
        }
        guard let row = rows.first else {
            say("  no reply from \(participant) published yet: nothing to duplicate")
            return
        }
        try await publish(try OutboxRelay.message(from: row, at: Date()), broker: broker)
    }

    /// Publishes with confirms, waiting through a broker restart.
    func publish(_ message: AMQPOutgoingMessage, broker: AMQPConnection) async throws {
        var lastError: (any Error)?
        for _ in 1...60 {
            await broker.waitUntilConnected()
            do {
                try await broker.publish(message)
                return
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(500))
            }
        }
        throw ChaosError("could not publish \(message.properties.messageID ?? "a message"): \(lastError.map { "\($0)" } ?? "")")
    }

    func waitUntilReady() async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(120)
        while clock.now < deadline {
            if await target.isReady(session) { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ChaosError("the order service was not ready 120 s after the fault (GET \(target.apiURL)/ready)")
    }

    // MARK: Quiescence

    /// Waits until no saga since `since` is running, no outbox row is unsent and every work queue
    /// is empty; then retries, as the operator, every saga parked FAILED, and waits again. Returns
    /// whether it got quiet within the timeout, and how many operator retries it made.
    func quiesce(since: String) async throws -> (Bool, Int) {
        let clock = ContinuousClock()
        let deadline = clock.now + options.quiesceTimeout
        var retries = 0
        for _ in 1...5 {
            var quiet = false
            while clock.now < deadline {
                if try await throughOutages({ try await isQuiet(since: since) }) {
                    quiet = true
                    break
                }
                try await Task.sleep(for: .milliseconds(500))
            }
            guard quiet else { return (false, retries) }
            let failed = try await throughOutages {
                try await target.databases.order.query(
                    "SELECT id::text AS id FROM order_sagas WHERE status = 'FAILED' AND created_at >= $1::timestamptz", [since]
                ).map { try $0.string("id") }
            }
            if failed.isEmpty { return (true, retries) }
            say("\(failed.count) saga(s) parked FAILED: retrying them as the operator")
            for id in failed {
                try await operatorRetry(id)
                retries += 1
            }
        }
        return (try await isQuiet(since: since), retries)
    }

    func isQuiet(since: String) async throws -> Bool {
        let databases = target.databases
        let running = try await databases.order.query(
            "SELECT count(*) AS n FROM order_sagas WHERE status IN ('RUNNING', 'COMPENSATING') AND created_at >= $1::timestamptz", [since]
        ).first!.int("n")
        guard running == 0 else { return false }
        for pool in [databases.order, databases.catalog, databases.promotion, databases.identity, databases.cart, databases.notification] {
            guard try await pool.query("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL").first!.int("n") == 0 else { return false }
        }
        return try await AMQPConnection.messageCounts(of: Self.workQueues, configuration: target.amqpAdmin).allSatisfy { $0 == 0 }
    }

    static var workQueues: [String] {
        SagaTopology.all.queues.map(\.name).filter { !$0.hasSuffix(".dlq") }
    }

    func operatorRetry(_ id: String) async throws {
        var request = URLRequest(url: URL(string: target.apiURL + "/api/v1/sagas/\(id)/retry")!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(#"{"operator": "saga-chaos", "reason": "recovering sagas parked during a chaos run"}"#.utf8)
        let (data, response) = try await session.fetch(target.authorized(request))
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        if status != 200 { say("  retry of \(id) answered \(status): \(String(decoding: data, as: UTF8.self).prefix(200))") }
    }

    // MARK: Checks

    func deadLetterIDs(_ queues: DeadLetterQueues) async throws -> [String: String] {
        var ids: [String: String] = [:]
        for (queue, messages) in try await queues.depths() where messages > 0 {
            for letter in try await queues.peek(queue, limit: 10_000) { ids[letter.messageID ?? ""] = queue }
        }
        return ids
    }

    func check(
        _ tally: Tally, since: String, initialStock: [String: Int], deadLetters: DeadLetterQueues, deadBefore: [String: String],
        quiet: Bool, operatorRetries: Int, quiesce: Duration
    ) async throws -> ChaosReport {
        let state = tally.with { $0 }
        let databases = target.databases
        var report = ChaosReport(seed: plan.seed)
        report.accepted = state.accepted.count
        report.refused = state.refused
        report.faults = state.faults
        report.crashPointsHit = state.crashPointsHit
        report.http5xx = state.http5xx
        report.operatorRetries = operatorRetries
        report.quiesceSeconds = quiesce.inSeconds
        if !quiet { report.violations.append("not quiet within \(options.quiesceTimeout): sagas still running, outbox rows unsent or work queues not empty") }

        // Every accepted checkout's saga exists and ended.
        let ids = Array(Set(state.accepted.values))
        var ended: [String: String] = [:]
        for row in try await databases.order.query("SELECT id::text AS id, status FROM order_sagas WHERE id::text = ANY($1::text[])", [ids]) {
            ended[try row.string("id")] = try row.string("status")
        }
        report.completed = ended.values.filter { $0 == "COMPLETED" }.count
        report.compensated = ended.values.filter { $0 == "COMPENSATED" }.count
        report.failed = ended.values.filter { $0 == "FAILED" }.count
        report.lost = ids.filter { ["COMPLETED", "COMPENSATED", "FAILED"].contains(ended[$0] ?? "") == false }.count

        // Nothing twice: a cart converted more often than it was restored again, or stock taken twice.
        report.duplicates = try await databases.cart.query(
            """
            SELECT count(*) AS n FROM (
                SELECT cart_id FROM cart_events WHERE cart_id LIKE $1 GROUP BY cart_id
                HAVING count(*) FILTER (WHERE type = 'CART_CONVERTED') > 1 + count(*) FILTER (WHERE type = 'CART_RESTORED')) AS twice
            """, [fixtures.cartPattern]).first!.int("n")
        report.violations += try await SagaInvariants.violations(in: databases, initialStock: initialStock, since: since)

        // Dead letters: exactly the poison this run injected, each where it belongs.
        let deadAfter = try await deadLetterIDs(deadLetters).filter { deadBefore[$0.key] == nil }
        if deadAfter != state.poison {
            let unexpected = deadAfter.keys.filter { state.poison[$0] == nil }.sorted()
            let missing = state.poison.keys.filter { deadAfter[$0] == nil }.sorted()
            report.violations.append("dead-letter queues: unexpected \(unexpected), injected poison missing \(missing)")
        }
        report.poison = state.poison.count
        return report
    }
}

/// A chaos run's figures.
public struct ChaosReport: Sendable {
    public var seed: UInt64
    public var accepted = 0
    public var completed = 0
    public var compensated = 0
    public var failed = 0
    public var lost = 0
    public var duplicates = 0
    public var violations: [String] = []
    public var refused: [String] = []
    public var faults: [FaultKind: Int] = [:]
    public var crashPointsHit = 0
    public var poison = 0
    public var http5xx = 0
    public var operatorRetries = 0
    public var quiesceSeconds = 0.0

    public init(seed: UInt64) { self.seed = seed }

    /// Lost, duplicates and violations are all 0, and every checkout was accepted.
    public var passed: Bool { lost == 0 && duplicates == 0 && violations.isEmpty && refused.isEmpty }

    /// The one line of figures.
    public var line: String {
        let faultText = FaultKind.allCases.compactMap { kind in faults[kind].map { "\(kind.rawValue):\($0)" } }.joined(separator: ",")
        return "chaos seed=\(seed) sagas=\(accepted) completed=\(completed) compensated=\(compensated) failed=\(failed) "
            + "lost=\(lost) duplicates=\(duplicates) violations=\(violations.count) refused=\(refused.count) "
            + "faults=\(faults.values.reduce(0, +)) (\(faultText)) crash-points-hit=\(crashPointsHit) poison=\(poison) "
            + "http-5xx=\(http5xx) operator-retries=\(operatorRetries) quiesce=\(String(format: "%.1f", quiesceSeconds))s"
    }
}

import AsyncHTTPClient
import Foundation
import Histogram
import NIOCore
import Postgres
import SagaInvariants
import Synchronization
import Workload

/// How a benchmark places its checkouts.
public enum LoadModel: Sendable, Equatable {
    /// This many sagas in flight: each client places its next checkout when its saga ended.
    case closed(concurrency: Int)
    /// Checkouts arrive at this rate whatever happens to the earlier ones (queueing shows).
    case open(perSecond: Double)
}

public struct BenchOptions: Sendable {
    public var model = LoadModel.closed(concurrency: 32)
    /// Sagas measured, after the warm-up.
    public var sagas = 2000
    /// Measure for this long instead of a count of sagas: the open model places rate × duration
    /// checkouts; the closed model stops placing when it has passed (and `sagas` is the most it
    /// prepares for).
    public var duration: Duration?
    /// Sagas placed first and not measured.
    public var warmup = 200
    /// The share of checkouts refused at each step (`payment`: 0.1 refuses one in ten there).
    public var failures: [CheckoutOutcome: Double] = [.failsAtPayment: 0.1]
    public var seed: UInt64 = 1
    /// How long to wait for the last sagas to end.
    public var timeout: Duration = .seconds(300)
    /// Processes to measure, by name (`order-service`, `postgresql`, …).
    public var processes: [String: Int32] = [:]
    public var label = ""
    /// The API key checkouts are placed with (scope checkout; no rate limit, or it is measured).
    public var apiKey: String?

    public init() {}
}

/// One benchmark: prepares stock, a customer and carts; places the checkouts under the load
/// model; waits for every saga to end; checks DESIGN.md's invariants for them; and measures
/// throughput, latencies (HdrHistogram), CPU per saga of each process, peak memory, and commits
/// and messages per saga. A run in which a saga did not end or an invariant broke gives no figures.
public struct BenchRun: Sendable {
    /// The order service instances' base URLs: checkout number i goes to the i-th modulo their count.
    public let apiURLs: [String]
    public let databases: SystemDatabases
    /// RabbitMQ's management API with the administrator's credentials, for messages per saga.
    public let management: (url: String, user: String, password: String)?
    public let options: BenchOptions
    let fixtures: CheckoutFixtures

    public init(apiURLs: [String], databases: SystemDatabases, management: (url: String, user: String, password: String)?, options: BenchOptions) {
        precondition(!apiURLs.isEmpty, "saga-bench needs an order service URL")
        self.apiURLs = apiURLs.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.databases = databases
        self.management = management
        self.options = options
        self.fixtures = CheckoutFixtures(databases: databases, prefix: "bench", run: String(UInt64(Date().timeIntervalSince1970 * 1000), radix: 36))
    }

    /// The load's HTTP client: SwiftNIO's, with a kept-alive connection for every client in flight.
    /// URLSession (libcurl) cost the load generator 2.8–3.4 ms of CPU per saga at 128 in flight,
    /// this 0.9, and its queueing added 130–170 ms to the accept latency's p99 there.
    static func httpClient() -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
        configuration.connectionPool = .init(idleTimeout: .seconds(120), concurrentHTTP1ConnectionsPerHostSoftLimit: 1024)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// The outcome each checkout is meant to have, from the seed and the failure shares.
    public static func outcomes(count: Int, failures: [CheckoutOutcome: Double], seed: UInt64) -> [CheckoutOutcome] {
        var random = SeededRandom(seed: seed)
        let shares = CheckoutOutcome.failures.compactMap { outcome in failures[outcome].map { (outcome, $0) } }
        return (0..<count).map { _ in
            var draw = Double.random(in: 0..<1, using: &random)
            for (outcome, share) in shares {
                if draw < share { return outcome }
                draw -= share
            }
            return .succeeds
        }
    }

    /// What the load records as it goes.
    final class Records: Sendable {
        struct State {
            var accept = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
            var saga = Histogram<UInt64>(highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: .three)
            var errors: [String] = []
            /// Checkouts that admission control answered 503 (too many sagas in flight): no saga.
            var shed = 0
            var measured = 0
            /// Checkouts placed (warm-up included): in duration mode, fewer than prepared.
            var placed = 0
            /// When the first measured checkout was placed (duration mode's start).
            var measuredStart: ContinuousClock.Instant?
            var firstAccept: ContinuousClock.Instant?
            var lastAccept: ContinuousClock.Instant?
            var lastEnd: ContinuousClock.Instant?
            var next = 0
        }
        let state = Mutex(State())
    }

    public func run(progress: @escaping @Sendable (String) -> Void) async throws -> BenchResult {
        let total = options.warmup + options.sagas
        let outcomes = Self.outcomes(count: total, failures: options.failures, seed: options.seed)
        try await fixtures.prepare()
        progress("opening \(total) carts")
        for batch in stride(from: 0, to: total, by: 5000) {
            try await fixtures.openCarts(Array(batch..<min(batch + 5000, total)).filter { outcomes[$0] != .failsAtCartConvert })
        }
        let since = try await databases.order.query("SELECT now()::text AS now").first!.string("now")
        let initialStock = try await SagaInvariants.stock(in: databases)
        // The watcher asks about every awaited saga every few milliseconds, on a connection of
        // its own: its backend's CPU is counted to saga-bench, not to PostgreSQL.
        let watcher = SagaEndWatcher(pool: PostgresPool(conninfo: databases.order.conninfo, size: 1, label: "saga-bench watcher"))
        let watcherBackend = try await watcher.backend()
        let records = Records()
        let client = Self.httpClient()
        let before: Sample, after: Sample
        do {
            before = try await sample(client, watcherBackend: watcherBackend)
            let measuredPart = options.duration.map { "checkouts measured for \($0)" } ?? "\(options.sagas) measured checkouts"
            progress("placing \(options.warmup) warm-up and \(measuredPart) (\(options.model))")
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await watcher.run() }
                try await place(outcomes, client: client, records: records, watcher: watcher, progress: progress)
                watcher.stop()
                try await group.waitForAll()
            }
            after = try await sample(client, watcherBackend: try await watcher.backend() == watcherBackend ? watcherBackend : nil)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()

        let state = records.state.withLock { $0 }
        var problems = state.errors
        problems += try await SagaInvariants.violations(in: databases, initialStock: initialStock, since: since)
        let counts = try await databases.order.query(
            "SELECT status, count(*) AS n FROM order_sagas WHERE created_at >= $1::timestamptz GROUP BY status", [since])
        var byStatus: [String: Int] = [:]
        for row in counts { byStatus[try row.string("status")] = try row.int("n") }
        let ended = (byStatus["COMPLETED"] ?? 0) + (byStatus["COMPENSATED"] ?? 0) + (byStatus["FAILED"] ?? 0)
        let startedSagas = state.placed - state.shed - state.errors.count
        if ended < startedSagas { problems.append("\(startedSagas - ended) of \(startedSagas) sagas did not end") }

        var result = BenchResult(label: options.label, model: options.model, sagas: state.measured, warmup: options.warmup)
        result.problems = problems
        result.completed = byStatus["COMPLETED"] ?? 0
        result.compensated = byStatus["COMPENSATED"] ?? 0
        result.failed = byStatus["FAILED"] ?? 0
        result.failures = Dictionary(uniqueKeysWithValues: options.failures.compactMap { outcome, share in outcome.step.map { ($0, share) } })
        if let first = state.firstAccept, let lastAccept = state.lastAccept, let lastEnd = state.lastEnd {
            result.checkoutsPerSecond = Double(state.measured) / seconds(lastAccept - first)
            result.sagasEndedPerSecond = Double(state.measured) / seconds(lastEnd - first)
        }
        result.acceptMilliseconds = Self.percentiles(state.accept, [50, 95, 99])
        result.sagaMilliseconds = Self.percentiles(state.saga, [50, 95, 99, 100])
        result.errors = state.errors.count
        // Per saga: per saga that ran (a shed checkout started none).
        let started = max(1, state.placed - state.shed)
        result.shed = state.shed
        result.duration = options.duration
        for (name, usage) in after.processes {
            guard let start = before.processes[name] else { continue }
            result.cpuMillisecondsPerSaga[name] = (usage.cpuSeconds - start.cpuSeconds) * 1000 / Double(started)
            result.contextSwitchesPerSaga[name] = Double(usage.contextSwitches - start.contextSwitches) / Double(started)
            result.peakRSSMegabytes[name] = usage.peakRSSMegabytes
        }
        // The watcher's backend works for saga-bench, not for the system.
        if let backend = after.watcherBackend, let start = before.watcherBackend {
            func countToBench(_ amount: Double, in figures: inout [String: Double]) {
                guard figures["postgresql"] != nil else { return }
                figures["postgresql"]! -= amount
                figures["saga-bench", default: 0] += amount
            }
            countToBench((backend.cpuSeconds - start.cpuSeconds) * 1000 / Double(started), in: &result.cpuMillisecondsPerSaga)
            countToBench(Double(backend.contextSwitches - start.contextSwitches) / Double(started), in: &result.contextSwitchesPerSaga)
        }
        result.cpuMillisecondsPerSaga["total"] = result.cpuMillisecondsPerSaga.values.reduce(0, +)
        result.contextSwitchesPerSaga["total"] = result.contextSwitchesPerSaga.values.reduce(0, +)
        // The watcher's own polls are commits too; they are not the system's.
        result.commitsPerSaga = Double(after.commits - before.commits - watcher.polls) / Double(started)
        if let published = after.published, let start = before.published {
            result.messagesPerSaga = Double(published - start) / Double(started)
        }
        return result
    }

    /// Places every checkout under the load model; returns when every saga ended (or the timeout).
    func place(_ outcomes: [CheckoutOutcome], client: HTTPClient, records: Records, watcher: SagaEndWatcher, progress: @escaping @Sendable (String) -> Void) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + options.timeout + .seconds(Double(outcomes.count) / 20)
        switch options.model {
        case .closed(let concurrency):
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<concurrency {
                    group.addTask {
                        while true {
                            let index = records.state.withLock { state in
                                defer { state.next += 1 }
                                return state.next
                            }
                            guard index < outcomes.count, clock.now < deadline, !measuredTimeIsUp(index, records, clock) else { return }
                            try await checkout(index, outcomes[index], client: client, records: records, watcher: watcher, progress: progress)
                        }
                    }
                }
                try await group.waitForAll()
            }
        case .open(let rate):
            let start = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in outcomes.indices {
                    try await clock.sleep(until: start + .seconds(Double(index) / rate))
                    group.addTask { try await checkout(index, outcomes[index], client: client, records: records, watcher: watcher, progress: progress) }
                }
                try await group.waitForAll()
            }
        }
    }

    /// In duration mode, whether checkout `index` would start after the measured time ended
    /// (the first measured checkout starts it).
    private func measuredTimeIsUp(_ index: Int, _ records: Records, _ clock: ContinuousClock) -> Bool {
        guard let duration = options.duration, index >= options.warmup else { return false }
        let now = clock.now
        let start = records.state.withLock { state in
            if state.measuredStart == nil { state.measuredStart = now }
            return state.measuredStart!
        }
        return now - start >= duration
    }

    /// Places one checkout, waits for its saga to end and records both latencies (measured
    /// checkouts only).
    func checkout(
        _ index: Int, _ outcome: CheckoutOutcome, client: HTTPClient, records: Records, watcher: SagaEndWatcher, progress: @escaping @Sendable (String) -> Void
    ) async throws {
        var request = HTTPClientRequest(url: apiURLs[index % apiURLs.count] + "/api/v1/checkout")
        request.method = .POST
        if let apiKey = options.apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try fixtures.body(index, outcome)))
        let clock = ContinuousClock()
        let started = clock.now
        let measured = index >= options.warmup
        records.state.withLock { $0.placed += 1 }
        let sagaID: String
        do {
            let response = try await client.execute(request, timeout: .seconds(60))
            let status = Int(response.status.code)
            let data = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            if status == 503, String(decoding: data, as: UTF8.self).contains("/problems/overloaded") {
                records.state.withLock { $0.shed += 1 }
                return
            }
            guard status == 202, let body = try JSONSerialization.jsonObject(with: data) as? [String: Any], let id = body["sagaId"] as? String else {
                records.state.withLock { $0.errors.append("checkout \(index): HTTP \(status) \(String(decoding: data, as: UTF8.self).prefix(200))") }
                return
            }
            sagaID = id
        } catch {
            records.state.withLock { $0.errors.append("checkout \(index): \(error)") }
            return
        }
        let accepted = clock.now
        if measured {
            records.state.withLock { state in
                state.accept.record(Self.microseconds(accepted - started))
                state.firstAccept = min(state.firstAccept ?? started, started)
                state.lastAccept = max(state.lastAccept ?? accepted, accepted)
            }
        }
        guard let ended = await watcher.waitForEnd(of: sagaID, timeout: options.timeout) else {
            records.state.withLock { $0.errors.append("saga \(sagaID) did not end within \(options.timeout)") }
            return
        }
        let done = records.state.withLock { state -> Int in
            if measured {
                state.saga.record(UInt64(max(0, ended.microseconds)))
                state.measured += 1
                state.lastEnd = clock.now
            }
            return state.measured
        }
        if measured && done % max(1, options.sagas / 10) == 0 { progress("\(done)/\(options.sagas) measured sagas ended") }
    }

    // MARK: Samples

    struct Sample {
        var processes: [String: ProcessUsage]
        /// The PostgreSQL backend that serves the watcher, when it is known.
        var watcherBackend: ProcessUsage?
        var commits: Int
        var published: Int?
    }

    func sample(_ client: HTTPClient, watcherBackend: Int32?) async throws -> Sample {
        var processes: [String: ProcessUsage] = [:]
        for (name, pid) in options.processes { processes[name] = ProcessUsage.read(pid: pid) }
        processes["saga-bench"] = ProcessUsage.read(pid: getpid())
        let commits = try await databases.order.query(
            "SELECT sum(xact_commit)::bigint AS n FROM pg_stat_database WHERE datname = ANY($1::text[])",
            [["order_db", "catalog_db", "promotion_db", "identity_db", "cart_db", "notification_db"]]).first!.int("n")
        return Sample(
            processes: processes, watcherBackend: watcherBackend.flatMap { ProcessUsage.read(pid: $0) }, commits: commits,
            published: await publishedMessages(client))
    }

    /// Messages published in vhost `ordersaga` so far, from the management API (its figures lag a
    /// few seconds, so it waits for the next refresh first).
    func publishedMessages(_ client: HTTPClient) async -> Int? {
        guard let management else { return nil }
        try? await Task.sleep(for: .seconds(6))
        var request = HTTPClientRequest(url: management.url + "/api/vhosts/ordersaga?columns=message_stats.publish")
        request.headers.add(name: "Authorization", value: "Basic \(Data("\(management.user):\(management.password)".utf8).base64EncodedString())")
        guard let response = try? await client.execute(request, timeout: .seconds(30)),
              let buffer = try? await response.body.collect(upTo: 1 << 20),
              let body = try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any],
              let stats = body["message_stats"] as? [String: Any], let published = stats["publish"] as? Int
        else { return nil }
        return published
    }

    // MARK: Helpers

    static func percentiles(_ histogram: Histogram<UInt64>, _ points: [Double]) -> [String: Double] {
        guard histogram.totalCount > 0 else { return [:] }
        var values: [String: Double] = [:]
        for point in points {
            let microseconds = point == 100 ? histogram.max : histogram.valueAtPercentile(point)
            values[point == 100 ? "max" : "p\(Int(point))"] = (Double(microseconds) / 100).rounded() / 10
        }
        return values
    }

    static func microseconds(_ duration: Duration) -> UInt64 {
        UInt64(max(0, duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000))
    }

    func seconds(_ duration: Duration) -> Double {
        max(1e-9, Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }
}

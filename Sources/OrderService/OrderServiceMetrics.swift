import Prometheus
import SagaCore
import Synchronization

/// What the order service counts, served at `GET /metrics` in Prometheus' text format. One
/// registry per application (no global bootstrap), so several can run in one process.
final class OrderServiceMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    let checkoutsAccepted: Counter
    let checkoutsReplayed: Counter
    let checkoutsRefused: Counter
    let checkoutsShed: Counter
    let repliesHandled: Counter
    let repliesDuplicate: Counter
    let replyHandling: DurationHistogram
    /// Sagas started, by type (the definition's name).
    private let started: [String: Counter]
    private let finished: [SagaStatus: Counter]
    /// From creation to the final status, by type and status.
    private let durations: [String: [SagaStatus: DurationHistogram]]
    private let sagasNow: [SagaStatus: Gauge]
    /// Each step's duration histogram, by type, step, phase and outcome, made on first use: the
    /// registry's own lookup builds its key from every label each time, on the reply path.
    private let stepDurations = Mutex<[StepKey: DurationHistogram]>([:])
    private let outboxBacklog: Gauge
    private let oldestIdle: Gauge
    /// Messages held in each dead-letter queue now, asked of the broker at each scrape (`nil`:
    /// not known, the broker being away).
    private let deadLetterDepths: @Sendable () async -> [String: Int]?

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), deadLetterDepths: @escaping @Sendable () async -> [String: Int]? = { nil }) {
        self.registry = registry
        self.deadLetterDepths = deadLetterDepths
        let checkouts = Self.name("checkouts", unit: "total", "Checkout requests by result: accepted, replayed (same Idempotency-Key), refused (invalid), shed (too many sagas in flight)")
        checkoutsAccepted = registry.makeCounter(descriptor: checkouts, labels: [("result", "accepted")])
        checkoutsReplayed = registry.makeCounter(descriptor: checkouts, labels: [("result", "replayed")])
        checkoutsRefused = registry.makeCounter(descriptor: checkouts, labels: [("result", "refused")])
        checkoutsShed = registry.makeCounter(descriptor: checkouts, labels: [("result", "shed")])
        let replies = Self.name("replies", unit: "total", "Participant replies by result: handled, or duplicate (already in the inbox)")
        repliesHandled = registry.makeCounter(descriptor: replies, labels: [("result", "handled")])
        repliesDuplicate = registry.makeCounter(descriptor: replies, labels: [("result", "duplicate")])
        replyHandling = registry.makeDurationHistogram(
            descriptor: Self.name("reply_handling", unit: "seconds", "Time to apply one reply to its saga, transaction included"),
            labels: [],
            buckets: [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                      .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1)])
        let types = [CreateOrderSaga.name, CreateOrderSaga.cancelName]
        let sagasStarted = Self.name("sagas_started", unit: "total", "Sagas started, by type")
        started = Dictionary(uniqueKeysWithValues: types.map { ($0, registry.makeCounter(descriptor: sagasStarted, labels: [("type", $0)])) })
        let sagasFinished = Self.name("sagas_finished", unit: "total", "Sagas that reached a final status, by status")
        let sagas = Self.name("sagas", unit: "", "Sagas not finished, and those parked as FAILED, by status")
        var finished: [SagaStatus: Counter] = [:]
        var sagasNow: [SagaStatus: Gauge] = [:]
        for status in SagaStatus.allCases {
            if status.isFinal {
                finished[status] = registry.makeCounter(descriptor: sagasFinished, labels: [("status", status.rawValue)])
            }
            if status != .completed && status != .compensated {
                sagasNow[status] = registry.makeGauge(descriptor: sagas, labels: [("status", status.rawValue)])
            }
        }
        self.finished = finished
        self.sagasNow = sagasNow
        let duration = Self.name("saga_duration", unit: "seconds", "From a saga's creation to its final status, by type and status")
        var durations: [String: [SagaStatus: DurationHistogram]] = [:]
        for type in types {
            for status in SagaStatus.allCases where status.isFinal {
                durations[type, default: [:]][status] = registry.makeDurationHistogram(
                    descriptor: duration, labels: [("type", type), ("status", status.rawValue)],
                    buckets: [.milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
                              .seconds(5), .seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(1800)])
            }
        }
        self.durations = durations
        oldestIdle = registry.makeGauge(
            descriptor: Self.name(
                "saga_oldest_idle", unit: "seconds", "How long the RUNNING or COMPENSATING saga changed longest ago has not changed (0 with none)"),
            labels: [])
        outboxBacklog = registry.makeGauge(
            descriptor: Self.name("outbox_unpublished", unit: "", "Messages in the order service's outbox not yet confirmed by the broker"),
            labels: [])
    }

    /// `ordersaga_<name>_<unit>`, with its help line.
    private static func name(_ name: String, unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "ordersaga", metricName: name, unitName: unit, helpText: help)
    }

    /// Messages sent to a dead-letter queue, by the queue they were taken from.
    func deadLettered(from queue: String) {
        registry.makeCounter(
            descriptor: Self.name("messages_dead_lettered", unit: "total", "Messages sent to their dead-letter queue, by the queue they came from"),
            labels: [("queue", queue)]
        ).increment()
    }

    /// A step's command or compensation that ended: from its first attempt to its end, by type,
    /// step, phase and outcome.
    func stepEnded(_ end: StepEnd, type: String) {
        guard let milliseconds = end.milliseconds else { return }
        let key = StepKey(type: type, step: end.step, phase: end.phase.rawValue, outcome: end.outcome.rawValue)
        let histogram = stepDurations.withLock { histograms in
            if let histogram = histograms[key] { return histogram }
            let histogram = registry.makeDurationHistogram(
                descriptor: Self.name(
                    "step_duration", unit: "seconds",
                    "From a step's first command (or compensation) attempt to its end, by type, step, phase and outcome"),
                labels: [("type", key.type), ("step", key.step), ("phase", key.phase), ("outcome", key.outcome)],
                buckets: [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                          .milliseconds(500), .seconds(1), .seconds(5), .seconds(30), .seconds(120), .seconds(600)])
            histograms[key] = histogram
            return histogram
        }
        histogram.record(.milliseconds(milliseconds))
    }

    private struct StepKey: Hashable {
        let type, step, phase, outcome: String
    }

    /// A saga of `type` (create_order or cancel_order) started.
    func sagaStarted(type: String) {
        started[type]?.increment()
    }

    func sagaFinished(_ status: SagaStatus, type: String, after duration: Duration?) {
        finished[status]?.increment()
        if let duration { durations[type]?[status]?.record(duration) }
    }

    /// Reads what the store knows (sagas not finished or parked, outbox backlog) and renders everything.
    func render(store: any SagaStore) async throws -> [UInt8] {
        let (sagas, backlog, idle) = try await store.gauges()
        oldestIdle.set(to: idle)
        for (status, gauge) in sagasNow {
            gauge.set(Double(sagas[status] ?? 0))
        }
        outboxBacklog.set(Double(backlog))
        if let depths = await deadLetterDepths() {
            let descriptor = Self.name("dead_letter_messages", unit: "", "Messages waiting in each dead-letter queue (saga-status dlq list shows them)")
            for (queue, count) in depths {
                registry.makeGauge(descriptor: descriptor, labels: [("queue", queue)]).set(Double(count))
            }
        }
        return registry.emitToBuffer()
    }
}

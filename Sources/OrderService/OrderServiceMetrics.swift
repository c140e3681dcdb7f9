import Postgres
import Prometheus
import SagaCore

/// What the order service counts, served at `GET /metrics` in Prometheus' text format. One
/// registry per application (no global bootstrap), so several can run in one process.
final class OrderServiceMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    let checkoutsAccepted: Counter
    let checkoutsReplayed: Counter
    let checkoutsRefused: Counter
    let repliesHandled: Counter
    let repliesDuplicate: Counter
    let replyHandling: DurationHistogram
    private let finished: [SagaStatus: Counter]
    private let sagasNow: [SagaStatus: Gauge]
    private let outboxBacklog: Gauge

    init() {
        checkoutsAccepted = registry.makeCounter(name: "ordersaga_checkouts_total", labels: [("result", "accepted")])
        checkoutsReplayed = registry.makeCounter(name: "ordersaga_checkouts_total", labels: [("result", "replayed")])
        checkoutsRefused = registry.makeCounter(name: "ordersaga_checkouts_total", labels: [("result", "refused")])
        repliesHandled = registry.makeCounter(name: "ordersaga_replies_total", labels: [("result", "handled")])
        repliesDuplicate = registry.makeCounter(name: "ordersaga_replies_total", labels: [("result", "duplicate")])
        replyHandling = registry.makeDurationHistogram(
            name: "ordersaga_reply_handling_seconds", labels: [],
            buckets: [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                      .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1)])
        var finished: [SagaStatus: Counter] = [:]
        var sagasNow: [SagaStatus: Gauge] = [:]
        for status in SagaStatus.allCases {
            if status.isFinal {
                finished[status] = registry.makeCounter(name: "ordersaga_sagas_finished_total", labels: [("status", status.rawValue)])
            }
            if status != .completed && status != .compensated {
                sagasNow[status] = registry.makeGauge(name: "ordersaga_sagas", labels: [("status", status.rawValue)])
            }
        }
        self.finished = finished
        self.sagasNow = sagasNow
        outboxBacklog = registry.makeGauge(name: "ordersaga_outbox_unpublished", labels: [])
    }

    func sagaFinished(_ status: SagaStatus) {
        finished[status]?.increment()
    }

    /// Reads what the database knows (sagas not finished or parked, outbox backlog) and renders
    /// everything. Both counts use partial or status indexes, not a table scan.
    func render(pool: PostgresPool) async throws -> [UInt8] {
        let (sagas, backlog) = try await pool.withConnection { connection in
            let sagas = try connection.query(
                "SELECT status, count(*) AS n FROM order_sagas WHERE status IN ('RUNNING', 'COMPENSATING', 'FAILED') GROUP BY status"
            ).map { (try $0.string("status"), try $0.int("n")) }
            let backlog = try connection.query("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL").first!.int("n")
            return (sagas, backlog)
        }
        for (status, gauge) in sagasNow {
            gauge.set(Double(sagas.first { $0.0 == status.rawValue }?.1 ?? 0))
        }
        outboxBacklog.set(Double(backlog))
        return registry.emitToBuffer()
    }
}

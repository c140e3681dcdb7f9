import AMQP
import Foundation
import Logging
@testable import Messaging
@testable import OrderService
import Postgres
import SagaCore
import Testing
import TestSupport
@testable import Workers

/// The Prometheus files in `monitoring/`: valid for promtool, their alerts fire as their unit
/// tests say, and every metric they name is one the services serve.
@Suite struct MonitoringTests {
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("monitoring")

    /// Runs promtool (Debian's `prometheus` package, which `scripts/test` installs) in `monitoring/`.
    func promtool(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await Process.output(of: URL(fileURLWithPath: "/usr/bin/env"), ["promtool"] + arguments, in: Self.folder)
    }

    @Test func promtoolAcceptsTheConfigAndTheRulesAndTheirUnitTestsPass() async throws {
        for arguments in [["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]] {
            let (status, output) = try await promtool(arguments)
            #expect(status == 0, "promtool \(arguments.joined(separator: " ")): \(output)")
        }
    }

    /// Every expression of the Grafana dashboard: PromQL that promtool parses (checked as recording
    /// rules), over metrics the services serve.
    @Test func theDashboardsQueriesParseAndUseServedMetrics() async throws {
        let data = try Data(contentsOf: Self.folder.appendingPathComponent("grafana-dashboard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        #expect(panels.count >= 10)
        let expressions = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        #expect(expressions.count >= panels.count)

        let rules = "groups:\n  - name: dashboard\n    rules:\n" + expressions.enumerated().map { index, expression in
            "      - record: dashboard_query_\(index)\n        expr: '\(expression.replacingOccurrences(of: "'", with: "''"))'\n"
        }.joined()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ordersaga-dashboard-\(UUID().uuidString).yml")
        try rules.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, output) = try await promtool(["check", "rules", file.path])
        #expect(status == 0, "\(output)")

        let served = try await servedMetricNames()
        let named = Set(expressions.joined(separator: " ").matches(of: /ordersaga_[a-z_]+/).map { name in
            String(name.output).replacing(/_(bucket|sum|count)$/, with: "")
        })
        for name in named.sorted() {
            #expect(served.contains(name), "the dashboard uses \(name), which no service serves")
        }
    }

    /// The metric families the order service and a worker serve, without any server behind them.
    func servedMetricNames() async throws -> Set<String> {
        let harness = try Harness()
        let metrics = OrderServiceMetrics { ["catalog.commands.dlq": 1] }  // as the broker would answer
        metrics.deadLettered(from: "catalog.commands")
        metrics.stepEnded(
            StepEnd(step: "payment", phase: .command, outcome: .succeeded, attempts: 1,
                    startedAt: SagaTime(millisecondsSince1970: 0), endedAt: SagaTime(millisecondsSince1970: 40)),
            type: "create_order")
        var served = String(decoding: try await metrics.render(store: harness.store), as: UTF8.self)
        let runtime = WorkerRuntime(
            services: [], pool: PostgresPool(conninfo: "postgresql://nobody@127.0.0.1:1/none", size: 1),
            connection: AMQPConnection(
                configuration: AMQPConfiguration(port: 1), topology: SagaTopology.forParticipant("catalog"), logger: Logger(label: "test")))
        let worker = WorkerMetrics()
        worker.events.handled("catalog.reserve_inventory", false)
        worker.events.deadLettered("catalog.commands")
        worker.events.batch(3)
        served += String(decoding: await worker.render(pool: runtime.pool, brokerConnected: runtime.connection.isConnected), as: UTF8.self)
        // What every process reports through swift-metrics: the pool's, the relay's, the broker connection's.
        let registry = TestMetrics.registry
        let pool = PostgresPool(conninfo: "postgresql://nobody@127.0.0.1:1/none", size: 1, label: "monitoring-test")
        let connection = AMQPConnection(configuration: AMQPConfiguration(port: 1), topology: AMQPTopology(), logger: Logger(label: "test"))
        _ = OutboxRelay(pool: pool, connection: connection, logger: Logger(label: "test"))
        served += String(decoding: registry.emitToBuffer(), as: UTF8.self)
        return Set(served.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
    }

    @Test func everyMetricTheAlertsNameIsServed() async throws {
        let servedNames = try await servedMetricNames()
        let rules = try String(contentsOf: Self.folder.appendingPathComponent("alerts.yml"), encoding: .utf8)
        let named = Set(rules.matches(of: /ordersaga_[a-z_]+/).map { String($0.output) })
        #expect(!named.isEmpty)
        for name in named.sorted() {
            #expect(servedNames.contains(name), "alerts.yml names \(name), which no service serves (served: \(servedNames.sorted()))")
        }
    }
}

import AMQP
import CheckoutContracts
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Messaging
import Provisioning
import Testing
import TestSupport

/// A worker process serves its own /health, /ready and /metrics: what it handled, the copies it
/// dropped, how many messages each transaction took, and its outbox backlog.
@Suite struct WorkerHTTPTests {
    func get(_ port: Int, _ path: String) async -> (status: Int, body: String)? { await TestSystem.get(port: port, path) }

    @Test func aWorkerServesHealthReadinessAndWhatItHandled() async throws {
        try await TestSystem.with { system in
            let port = TestPorts.next()
            let worker = Process()
            worker.executableURL = TestSystem.binary
            let arguments = [
                "worker", "catalog", "--postgres-url", system.url("catalog"), "--amqp-url", system.amqpURL(of: "catalog"),
                "--pool-size", "2", "--set", "worker.httpPort=\(port)",
            ]
            worker.arguments = arguments + ["--log-level", "error"]
            try worker.run()
            do {
                try await checkServed(system, port: port, arguments: arguments)
            } catch {
                await worker.stop()
                throw error
            }
            await worker.stop()
        }
    }

    /// A setting that does not parse stops the worker naming it, before it makes anything: here
    /// the notification worker's mail folder is not created.
    @Test func aBadSettingStopsTheNotificationWorkerHavingMadeNothing() async throws {
        let mail = FileManager.default.temporaryDirectory.appendingPathComponent("mail-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: mail) }
        let (status, text) = try await Process.output(of: TestSystem.binary, [
            "worker", "notification", "--postgres-url", "postgresql://nobody@127.0.0.1:1/none", "--amqp-url", "amqp://nobody:x@127.0.0.1:1/none",
            "--set", "notification.mailDirectory=\(mail.path)", "--set", "notification.mailRetention=10s", "--log-level", "info",
        ])
        #expect(status != 0)
        #expect(text.contains("notification.mailRetention (ORDERSAGA_NOTIFICATION_MAIL_RETENTION) is \"10s\"") && text.contains("at least 1m"), "\(text)")
        #expect(!FileManager.default.fileExists(atPath: mail.path))
        #expect(!text.contains("notifications are delivered"), "\(text)")
    }

    /// A `--set` key the process does not use stops it, naming the key, before it opens anything:
    /// ignored, `--set http.port=…` on a worker would leave it on another port than meant.
    @Test func aSettingTheProcessDoesNotUseStopsIt() async throws {
        let urls = ["--postgres-url", "postgresql://nobody@127.0.0.1:1/none", "--amqp-url", "amqp://nobody:x@127.0.0.1:1/none", "--log-level", "info"]
        let (status, text) = try await Process.output(of: TestSystem.binary, ["worker", "catalog", "--set", "http.port=9999"] + urls)
        #expect(status != 0)
        #expect(text.contains("--set http.port=9999: the catalog worker does not use this setting (a worker's port is worker.httpPort)"), "\(text)")
        #expect(!text.contains("AMQP connected") && !text.contains("worker started") && !text.contains("serving its REST API"), "\(text)")
        let (orderStatus, order) = try await Process.output(
            of: TestSystem.binary, ["order-service", "--set", "worker.poolSize=3", "--set", "notification.mailRetention=2d"] + urls)
        #expect(orderStatus != 0)
        #expect(order.contains("--set notification.mailRetention=2d, --set worker.poolSize=3: the order service does not use these settings"), "\(order)")
        // A notification setting is the notification worker's alone.
        let (catalogStatus, catalog) = try await Process.output(
            of: TestSystem.binary, ["worker", "catalog", "--set", "notification.mailDirectory=/tmp"] + urls)
        #expect(catalogStatus != 0)
        #expect(catalog.contains("--set notification.mailDirectory=/tmp: the catalog worker does not use this setting"), "\(catalog)")
    }

    /// What the running worker on `port` serves, and a second one on the same port refused.
    func checkServed(_ system: TestSystem, port: Int, arguments: [String]) async throws {
        #expect(await eventually(timeout: .seconds(30), interval: .milliseconds(100)) { await get(port, "/ready")?.status == 200 })
        let health = await get(port, "/health")
        #expect(health?.status == 200)
        #expect(health?.body.contains(#""worker":"catalog""#) == true)

        // A second worker on the same port stops at once, saying why and which setting to change.
        let started = ContinuousClock.now
        let (status, text) = try await Process.output(of: TestSystem.binary, arguments + ["--log-level", "info"])
        #expect(status != 0)
        #expect(ContinuousClock.now - started < .seconds(20), "it hung after its HTTP server failed")
        #expect(text.contains("Address already in use"), "\(text)")
        #expect(text.contains("worker.httpPort") && text.contains("127.0.0.1:\(port)"), "\(text)")
        // The port is tried before anything starts: no broker connection to wait for on the way out.
        #expect(!text.contains("worker started") && !text.contains("AMQP connected"), "\(text)")
        // The order service too, before it opens its database or broker.
        let (serviceStatus, service) = try await Process.output(of: TestSystem.binary, [
            "order-service", "--port", String(port), "--sagas", TestSystem.repositoryRoot.appendingPathComponent("sagas").path,
            "--postgres-url", system.url("order"), "--amqp-url", system.amqpURL(of: "order"), "--log-level", "info",
        ])
        #expect(serviceStatus != 0)
        #expect(service.contains("cannot serve the REST API on 127.0.0.1:\(port): Address already in use (http.port, or --port)"), "\(service)")
        #expect(!service.contains("AMQP connected"), "\(service)")

        // One command, then the same command again: handled once, dropped once.
        let connection = AMQPConnection(configuration: system.amqp, topology: SagaTopology.all, logger: system.logger)
        try await system.running([AMQPConnectionService(connection)]) {
            await connection.waitUntilConnected()
            let command = HardCaseTests.command(
                sagaID: UUID().uuidString.lowercased(), step: "reserve-inventory", type: CatalogContract.reserveInventory, phase: "command",
                body: #"{"orderId":"o-1","items":[{"productId":"sku-mug","quantity":1}]}"#, participant: "catalog")
            try await connection.publish(command)
            try await connection.publish(command)
            let counted = await eventually(timeout: .seconds(20), interval: .milliseconds(200)) {
                let text = await get(port, "/metrics")?.body ?? ""
                return text.contains(#"ordersaga_worker_messages_total{type="catalog.reserve_inventory",result="handled"} 1"#)
                    && text.contains(#"ordersaga_worker_messages_total{type="catalog.reserve_inventory",result="duplicate"} 1"#)
            }
            #expect(counted)
        }
        let metrics = await get(port, "/metrics")?.body ?? ""
        #expect(metrics.contains("ordersaga_consumer_batch_size_bucket"))
        #expect(metrics.contains("ordersaga_broker_connected 1"))
        #expect(metrics.contains("ordersaga_outbox_unpublished"))
        // The process's swift-metrics: the pool's waits, the relay's publishes (the replies), the broker's reconnects.
        #expect(metrics.contains(#"ordersaga_postgres_pool_wait_seconds_count{pool="catalog"}"#), "\(metrics)")
        #expect(metrics.contains("ordersaga_outbox_publish_seconds_count"))
        #expect(metrics.contains("ordersaga_amqp_reconnects_total 0"))
        #expect(metrics.contains("ordersaga_amqp_blocked 0"))
        // The management UI names the worker's connection, not only its address.
        let named = await eventually(timeout: .seconds(20), interval: .milliseconds(250)) {
            let connections = try? await TestInfrastructure.managementJSON("/api/vhosts/\(system.name)/connections") as? [[String: Any]]
            return connections?.contains { $0["user_provided_name"] as? String == "catalog worker" } ?? false
        }
        #expect(named, "no connection named \"catalog worker\" in vhost \(system.name)")
    }
}

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Postgres
import Provisioning
import Testing
import TestSupport

/// The order service as a real process, killed with SIGKILL while sagas are in flight: after a
/// restart every saga ends, and nothing happened twice.
@Suite struct ProcessKillTests {
    func startOrderService(_ system: TestSystem, port: Int) throws -> Process {
        try system.launch(
            ["order-service", "--port", String(port), "--sagas", TestSystem.repositoryRoot.appendingPathComponent("sagas").path, "--pool-size", "3"],
            as: "order")
    }

    /// The text of `GET /metrics`, or "" when it did not answer.
    func metrics(_ port: Int) async -> String { await TestSystem.get(port: port, "/metrics")?.body ?? "" }

    /// Posts a checkout; true when it was accepted.
    func checkout(_ system: TestSystem, _ port: Int, cart: String) async -> Bool {
        await system.postCheckout(port: port, CheckoutClient.body(cart: cart, items: [("sku-mug", 1)], coupon: "WELCOME10"))?.status == 202
    }

    /// Places half the checkouts, kills the process, restarts it, places the rest, waits for all.
    func killAndRestart(_ system: TestSystem, carts: [String]) async throws {
        let port = Int.random(in: 20_000..<30_000)
        let order = system.pool("order")
        let first = try startOrderService(system, port: port)
        #expect(await TestSystem.becomesReady(port: port, timeout: .seconds(30)))
        var accepted = 0
        for cart in carts[..<15] {
            if await checkout(system, port, cart: cart) { accepted += 1 }
        }
        // Killed at once, with sagas in flight: no graceful shutdown, no flush.
        kill(first.processIdentifier, SIGKILL)
        await first.exited()
        let unfinished = try await order.query("SELECT count(*) AS n FROM order_sagas WHERE status IN ('RUNNING', 'COMPENSATING')").first!.int("n")
        // The kill has to catch sagas in flight for this test to mean anything.
        #expect(unfinished > 0, "no saga was in flight when the process was killed")

        let second = try startOrderService(system, port: port)
        #expect(await TestSystem.becomesReady(port: port, timeout: .seconds(30)))
        for cart in carts[15...] {
            if await checkout(system, port, cart: cart) { accepted += 1 }
        }
        let finished = await eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
            (try? await order.query("SELECT count(*) AS n FROM order_sagas WHERE status IN ('RUNNING', 'COMPENSATING')").first?.int("n")) == 0
        }
        // The process's swift-metrics reach its /metrics: requests by route and status, pool waits, publishes.
        let metrics = await self.metrics(port)
        #expect(metrics.contains(#"http_requests_total{http_route="/api/v1/checkout",http_request_method="POST",http_response_status_code="202"}"#), "\(metrics.prefix(3000))")
        #expect(metrics.contains("http_server_request_duration_seconds_bucket"))
        #expect(metrics.contains(#"ordersaga_postgres_pool_wait_seconds_count{pool="order-service"}"#))
        #expect(metrics.contains("ordersaga_outbox_publish_seconds_count"))
        #expect(metrics.contains("ordersaga_amqp_reconnects_total"))
        await second.stop()
        #expect(finished)
        #expect(accepted == carts.count)
        let completed = try await order.query("SELECT count(*) AS n FROM order_sagas WHERE status = 'COMPLETED'").first!.int("n")
        #expect(completed == carts.count)
    }

    /// Restarted while its database refuses connections (an outage), or before `ordersaga setup`
    /// made its tables, the order service waits for it, saying so once and answering its probes
    /// (alive, not ready), and serves when the database is ready.
    @Test func orderServiceStartedBeforeItsDatabaseIsReadyWaitsThenServes() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: TestSystem.binary.path), "build the package first: \(TestSystem.binary.path)")
        try await TestSystem.with { system in
            let admin = PostgresPool(conninfo: TestInfrastructure.postgresAdminURL, size: 1)
            let database = "\(system.name)_order"
            let order = PostgresPool(conninfo: TestInfrastructure.replacingDatabase(in: TestInfrastructure.postgresAdminURL, with: database), size: 1)
            let notReady: [(String, make: String, undo: String, reason: String)] = [
                ("refused", "ALTER DATABASE \"\(database)\" ALLOW_CONNECTIONS false", "ALTER DATABASE \"\(database)\" ALLOW_CONNECTIONS true",
                 "is not currently accepting connections"),
                ("no tables", "ALTER TABLE saga_definitions RENAME TO saga_definitions_later", "ALTER TABLE saga_definitions_later RENAME TO saga_definitions",
                 "has `ordersaga setup` run?"),
            ]
            for (what, make, undo, reason) in notReady {
                try await (what == "refused" ? admin : order).query(make)
                let port = TestPorts.next()
                let log = FileManager.default.temporaryDirectory.appendingPathComponent("\(system.name)-order-service.log")
                defer { try? FileManager.default.removeItem(at: log) }
                let process = try system.launch(
                    ["order-service", "--port", String(port), "--sagas", TestSystem.repositoryRoot.appendingPathComponent("sagas").path],
                    as: "order", logLevel: "info", log: log)
                func text() -> String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
                #expect(await eventually(timeout: .seconds(20)) { text().contains("PostgreSQL is not ready; waiting for it") }, "\(what): \(text())")
                #expect(text().contains(reason), "\(what): \(text())")
                try await Task.sleep(for: .seconds(2))
                #expect(process.isRunning, "\(what): the order service exited instead of waiting for its database")
                // Meanwhile it is alive but not ready, and a request is told to come back.
                #expect(await TestSystem.get(port: port, "/health")?.status == 200, "\(what)")
                #expect(await TestSystem.get(port: port, "/ready")?.status == 503, "\(what)")
                #expect(await system.postCheckout(port: port, "{}")?.status == 503, "\(what)")
                try await (what == "refused" ? admin : order).query(undo)
                #expect(await TestSystem.becomesReady(port: port, timeout: .seconds(30)), "\(what)")
                #expect(text().components(separatedBy: "waiting for it").count - 1 == 1, "\(what): the wait is logged once: \(text())")
                #expect(text().contains("PostgreSQL is ready; starting"), "\(what)")
                await process.stop()
            }
        }
    }

    @Test func orderServiceKilledMidFlightFinishesEverySagaAfterRestart() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: TestSystem.binary.path), "build the package first: \(TestSystem.binary.path)")
        try await TestSystem.with { system in
            let initialStock = try await Invariants.stock(in: system)
            let carts = (1...30).map { "cart-kill-\($0)" }
            try await system.pool("cart").query(
                "INSERT INTO cart_events (cart_id, seq, type, customer_id) SELECT unnest($1::text[]), 1, 'CART_CREATED', 'cust-ada'", [carts])
            try await system.running(system.workerServices()) {
                try await killAndRestart(system, carts: carts)
            }
            #expect(try await Invariants.violations(in: system, initialStock: initialStock) == [])
        }
    }
}

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Postgres
import Testing
import TestSupport

/// Each crash point, armed in the real binary: the process dies there as `kill -9` would, a
/// restart without it finishes every saga, and nothing happened twice.
@Suite struct CrashPointTests {
    let kills = ProcessKillTests()

    func orderService(_ system: TestSystem, port: Int, crashAt: String?) throws -> Process {
        try system.launch(
            ["order-service", "--port", String(port), "--sagas", TestSystem.repositoryRoot.appendingPathComponent("sagas").path, "--pool-size", "3"]
                + (crashAt.map { ["--set", "fault.crashAt=\($0)"] } ?? []),
            as: "order")
    }

    func worker(_ system: TestSystem, _ participant: String, crashAt: String?) throws -> Process {
        try system.launch(
            ["worker", participant, "--pool-size", "2", "--set", "worker.httpPort=-1"] + (crashAt.map { ["--set", "fault.crashAt=\($0)"] } ?? []),
            as: participant)
    }

    /// Places `carts.count` checkouts (every third with an expired coupon, so it compensates) while
    /// `victim` runs armed; expects it to die of SIGKILL, restarts it unarmed, and waits for every saga.
    func crashAndRecover(_ system: TestSystem, carts: [String], victim: (String?) throws -> Process, port: Int, orderService: Process?) async throws {
        let armed = try victim("armed")
        #expect(await TestSystem.becomesReady(port: port, timeout: .seconds(30)))
        var accepted = Set<Int>()
        for (index, cart) in carts.enumerated() {
            if await checkout(system, port, cart: cart, coupon: coupon(index)) { accepted.insert(index) }
            if !armed.isRunning { break }
        }
        let died = await eventually(timeout: .seconds(30), interval: .milliseconds(100)) { !armed.isRunning }
        #expect(died, "the crash point was never reached")
        await armed.stop()
        #expect(armed.terminationReason == .uncaughtSignal && armed.terminationStatus == SIGKILL)

        let restarted = try victim(nil)
        do {
            try await recover(system, carts: carts, accepted: accepted, port: port)
        } catch {
            await restarted.stop()
            throw error
        }
        await restarted.stop()
    }

    /// With the victim restarted unarmed on `port`: places what was not accepted yet and waits for every saga.
    func recover(_ system: TestSystem, carts: [String], accepted: Set<Int>, port: Int) async throws {
        let order = system.pool("order")
        var accepted = accepted
        #expect(await TestSystem.becomesReady(port: port, timeout: .seconds(30)))
        // Every one not accepted yet: one whose answer the crash swallowed is answered now by its
        // Idempotency-Key, the same checkout as before.
        for (index, cart) in carts.enumerated() where !accepted.contains(index) {
            if await checkout(system, port, cart: cart, coupon: coupon(index)) { accepted.insert(index) }
        }
        let finished = await eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
            (try? await order.query("SELECT count(*) AS n FROM order_sagas WHERE status IN ('RUNNING', 'COMPENSATING')").first?.int("n")) == 0
        }
        #expect(finished)
        #expect(accepted.count == carts.count)
        #expect(try await order.query("SELECT count(*) AS n FROM order_sagas").first!.int("n") == carts.count)
    }

    /// Every third checkout has an expired coupon, so it compensates.
    func coupon(_ index: Int) -> String { index % 3 == 2 ? "EXPIRED5" : "WELCOME10" }

    func checkout(_ system: TestSystem, _ port: Int, cart: String, coupon: String) async -> Bool {
        let body = CheckoutClient.body(cart: cart, items: [("sku-mug", 1)], coupon: coupon)
        return await system.postCheckout(port: port, body, headers: ["Idempotency-Key": cart])?.status == 202
    }

    func carts(_ system: TestSystem, count: Int) async throws -> [String] {
        let carts = (1...count).map { "cart-crash-\($0)" }
        try await system.pool("cart").query(
            "INSERT INTO cart_events (cart_id, seq, type, customer_id) SELECT unnest($1::text[]), 1, 'CART_CREATED', 'cust-ada'", [carts])
        return carts
    }

    @Test(arguments: ["saga.after-commit:3", "saga.mid-compensation", "relay.confirm-wait:2", "relay.after-publish:2"])
    func orderServiceDyingAtACrashPointLosesAndRepeatsNothing(_ point: String) async throws {
        try await TestSystem.with { system in
            let initialStock = try await Invariants.stock(in: system)
            let carts = try await carts(system, count: 12)
            let port = Int.random(in: 20_000..<30_000)
            try await system.running(system.workerServices()) {
                try await crashAndRecover(system, carts: carts, victim: { armed in
                    try orderService(system, port: port, crashAt: armed == nil ? nil : point)
                }, port: port, orderService: nil)
            }
            #expect(try await Invariants.violations(in: system, initialStock: initialStock) == [])
        }
    }

    @Test func workerDyingBetweenItsCommitAndItsAckAppliesTheCommandOnce() async throws {
        try await TestSystem.with { system in
            let initialStock = try await Invariants.stock(in: system)
            let carts = try await carts(system, count: 9)
            let port = Int.random(in: 20_000..<30_000)
            let service = try orderService(system, port: port, crashAt: nil)
            do {
                try await system.running(system.workerServices(["catalog", "promotion", "cart", "notification"])) {
                    try await crashAndRecover(system, carts: carts, victim: { armed in
                        try worker(system, "identity", crashAt: armed == nil ? nil : "consumer.before-ack:2")
                    }, port: port, orderService: service)
                }
            } catch {
                await service.stop()
                throw error
            }
            await service.stop()
            #expect(try await Invariants.violations(in: system, initialStock: initialStock) == [])
            // The charge whose ack was lost was delivered again and dropped by the inbox.
            let charges = try await system.pool("identity").query("SELECT count(*) AS n, count(DISTINCT saga_id) AS sagas FROM charges").first!
            #expect(try charges.int("n") == charges.int("sagas"))
        }
    }
}

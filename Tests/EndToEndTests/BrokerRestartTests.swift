import Foundation
import Hummingbird
import HummingbirdTesting
import OrderService
import Testing
import TestSupport

/// A command taking `broker-stop` or `broker-start` (scripts/test).
private let brokerControl = ProcessInfo.processInfo.environment["ORDERSAGA_TEST_BROKER_CONTROL"]

/// RabbitMQ itself stopped and started again (the whole node, not one connection) while sagas are
/// in flight and checkouts keep arriving: every service reconnects, and every saga completes with
/// each command sent once. The broker is shared, so `scripts/test` runs this suite alone, after the
/// rest, and tells it how to stop and start the broker.
@Suite(.enabled(if: brokerControl != nil, "restarts the shared test broker; scripts/test runs it on its own"))
struct BrokerRestartTests {
    static func broker(_ action: String) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: brokerControl!)
        process.arguments = [action]
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        #expect(process.terminationStatus == 0, "\(brokerControl!) \(action) failed")
    }

    /// sagas/ with one attempt per step and a long timeout: a message lost in the restart would
    /// end its saga COMPENSATED, instead of being hidden by a retry.
    static func sagasWithoutRetries() throws -> URL {
        let source = TestSystem.repositoryRoot.appendingPathComponent("sagas/create_order.yaml")
        let text = try String(contentsOf: source, encoding: .utf8)
            .replacingOccurrences(of: "timeout: 5s", with: "timeout: 120s")
            .replacingOccurrences(of: #"retry: \{ attempts: \d+"#, with: "retry: { attempts: 1", options: .regularExpression)
        #expect(!text.contains("timeout: 5s") && text.contains("retry: { attempts: 1"))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(TestInfrastructure.uniqueName("sagas"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try text.write(to: directory.appendingPathComponent("create_order.yaml"), atomically: true, encoding: .utf8)
        return directory
    }

    @Test func everySagaCompletesAcrossABrokerRestart() async throws {
        try await TestSystem.with { system in
            let initialStock = try await Invariants.stock(in: system)
            let carts = (1...200).map { "cart-restart-\($0)" }
            try await system.pool("cart").query(
                "INSERT INTO cart_events (cart_id, seq, type, customer_id) SELECT unnest($1::text[]), 1, 'CART_CREATED', 'cust-ada'", [carts])
            var configuration = system.orderServiceConfiguration
            configuration.sagasDirectory = try Self.sagasWithoutRetries()
            let app = try await buildOrderService(configuration, logger: system.logger)
            try await system.running(system.workerServices()) {
                try await app.test(.router) { client in
                    let api = CheckoutClient(client: client)
                    var unused = carts[...]
                    func place() async throws -> String {
                        let next = unused.popFirst()
                        let cart = try #require(next, "more checkouts than carts")
                        return try await api.checkout(CheckoutClient.body(cart: cart, items: [("sku-mug", 1)], coupon: "WELCOME10")).sagaId
                    }
                    // Checkouts every 50 ms until the broker is down, so the last ones are caught half-way.
                    let stopped = Flag()
                    let stopping = Task {
                        try await Self.broker("broker-stop")
                        await stopped.set()
                    }
                    var sagas: [String] = []
                    while !(await stopped.isSet) {
                        sagas.append(try await place())
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    try await stopping.value
                    let unfinished = try await system.pool("order").query(
                        "SELECT count(*) AS n FROM order_sagas WHERE status = 'RUNNING' AND id = ANY($1::uuid[])", [sagas]).first!.int("n")
                    #expect(unfinished > 0, "no saga was in flight when the broker stopped")
                    // Still taken while it is down (their commands wait in the outbox), and after.
                    for _ in 0..<5 { sagas.append(try await place()) }
                    try await Self.broker("broker-start")
                    for _ in 0..<5 { sagas.append(try await place()) }

                    for id in sagas {
                        let saga = try await api.finishedSaga(id, within: .seconds(90))
                        #expect(saga.status == "COMPLETED", "saga \(id): \(saga.status) \(saga.failureReason ?? "")")
                        let sent = saga.timeline.filter { $0.event == "command_sent" }.compactMap(\.step)
                        #expect(sent == ["reserve-inventory", "validate-coupon", "payment", "cart-convert", "notify"], "saga \(id)")
                    }
                }
            }
            #expect(try await Invariants.violations(in: system, initialStock: initialStock) == [])
        }
    }

    actor Flag {
        private(set) var isSet = false
        func set() { isSet = true }
    }
}

import Foundation
import Hummingbird
import HummingbirdTesting
import OrderService
import SagaCore
import Testing
import TestSupport

/// A command taking `broker-stop` or `broker-start` (scripts/test).
private let brokerControl = ProcessInfo.processInfo.environment["ORDERSAGA_TEST_BROKER_CONTROL"]

/// RabbitMQ itself stopped and started again (the whole node, not one connection) with commands
/// waiting in a queue and checkouts arriving while it is down: the queued commands survive, every
/// service reconnects, and every saga completes with each command sent once. And a memory alarm,
/// in which the broker stops reading every connection that publishes. The broker is shared, so
/// `scripts/test` runs this suite alone, after the rest, and tells it how to stop, start, block
/// and unblock it.
@Suite(.serialized, .enabled(if: brokerControl != nil, "restarts the shared test broker; scripts/test runs it on its own"))
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

    /// The shipped definition with one attempt per step and a long timeout: a message lost in the
    /// restart would end its saga COMPENSATED, instead of being hidden by a retry.
    static func withoutRetries(_ system: TestSystem) throws -> SagaDefinition {
        var definition = try SagaDefinitionRegistry.load(name: "create_order", directory: system.orderServiceConfiguration.sagasDirectory)
        for index in definition.steps.indices {
            definition.steps[index].timeoutMilliseconds = 120_000
            definition.steps[index].retry.attempts = 1
        }
        return definition
    }

    /// `count` empty carts of cust-ada in `system`'s cart database, named `prefix-1` onwards.
    static func carts(_ prefix: String, _ count: Int, in system: TestSystem) async throws -> [String] {
        let carts = (1...count).map { "\(prefix)-\($0)" }
        try await system.pool("cart").query(
            "INSERT INTO cart_events (cart_id, seq, type, customer_id) SELECT unnest($1::text[]), 1, 'CART_CREATED', 'cust-ada'", [carts])
        return carts
    }

    /// A checkout of one mug with a coupon, from `cart`: its saga's id.
    static func checkout(_ api: CheckoutClient, cart: String) async throws -> String {
        try await api.checkout(CheckoutClient.body(cart: cart, items: [("sku-mug", 1)], coupon: "WELCOME10")).sagaId
    }

    /// Each saga ends COMPLETED, having sent each step's command once and timed nothing out.
    static func expectEachCompletedOnce(_ sagas: [String], _ api: CheckoutClient) async throws {
        for id in sagas {
            let saga = try await api.finishedSaga(id, within: .seconds(90))
            #expect(saga.status == "COMPLETED", "saga \(id): \(saga.status) \(saga.failureReason ?? "")")
            let sent = saga.timeline.filter { $0.event == "command_sent" }.compactMap(\.step)
            #expect(sent == ["reserve-inventory", "validate-coupon", "payment", "cart-convert", "notify"], "saga \(id)")
            #expect(!saga.timeline.contains { $0.event == "attempt_timed_out" }, "saga \(id)")
        }
    }

    @Test func everySagaCompletesAcrossABrokerRestart() async throws {
        try await TestSystem.with { system in
            let initialStock = try await Invariants.stock(in: system)
            let carts = try await Self.carts("cart-restart", 20, in: system)
            var configuration = system.orderServiceConfiguration
            configuration.definition = try Self.withoutRetries(system)
            let app = try await buildOrderService(configuration, logger: system.logger)
            // The identity worker (payment) starts only after the restart, so its commands sit in
            // its queue while the broker is down.
            try await system.running(system.workerServices(["catalog", "promotion", "cart", "notification"])) {
                try await app.test(.router) { client in
                    let client = client.authorized(system.adminKey)
                    let api = CheckoutClient(client: client)
                    var unused = carts[...]
                    func place(_ count: Int) async throws -> [String] {
                        var placed: [String] = []
                        for _ in 0..<count {
                            let next = unused.popFirst()
                            let cart = try #require(next, "more checkouts than carts")
                            placed.append(try await Self.checkout(api, cart: cart))
                        }
                        return placed
                    }
                    var sagas = try await place(10)
                    let waiting = await eventually(timeout: .seconds(60), interval: .milliseconds(100)) {
                        (try? await TestInfrastructure.queueDepth(vhost: system.name, queue: "identity.commands")) == 10
                    }
                    #expect(waiting, "the payment commands did not reach the identity worker's queue")

                    try await Self.broker("broker-stop")
                    // Not ready (send traffic elsewhere), yet alive (no restart would mend an outage).
                    let notReady = await eventually(timeout: .seconds(20), interval: .milliseconds(100)) {
                        (try? await client.execute(uri: "/ready", method: .get) { $0.status }) == .serviceUnavailable
                    }
                    #expect(notReady, "/ready must answer 503 while the broker is down")
                    try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
                    // Taken while the broker is down: their commands wait in the outbox.
                    sagas += try await place(5)
                    try await Self.broker("broker-start")
                    let ready = await eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
                        (try? await client.execute(uri: "/ready", method: .get) { $0.status }) == .ok
                    }
                    #expect(ready, "/ready must answer 200 once the broker is back")
                    // The ten queued payment commands survived the restart.
                    let kept = await eventually(timeout: .seconds(60), interval: .milliseconds(250)) {
                        (try? await TestInfrastructure.queueDepth(vhost: system.name, queue: "identity.commands")) ?? 0 >= 10
                    }
                    #expect(kept, "queued commands were lost in the restart")

                    try await system.running(system.workerServices(["identity"])) {
                        sagas += try await place(5)
                        try await Self.expectEachCompletedOnce(sagas, api)
                    }
                }
            }
            #expect(try await Invariants.violations(in: system, initialStock: initialStock) == [])
        }
    }

    /// A step's timeout counts from the broker's confirm: checkouts taken while the broker is down
    /// for longer than that timeout still complete, with no attempt timed out.
    @Test func anOutageLongerThanAStepTimeoutDelaysSagasWithoutFailingThem() async throws {
        try await TestSystem.with { system in
            let initialStock = try await Invariants.stock(in: system)
            let carts = try await Self.carts("cart-outage", 5, in: system)
            var configuration = system.orderServiceConfiguration
            // One attempt of 2 s per step: an outage of 6 s would time every one of them out if the
            // time counted from the outbox write.
            var definition = try SagaDefinitionRegistry.load(name: "create_order", directory: configuration.sagasDirectory)
            for index in definition.steps.indices {
                definition.steps[index].timeoutMilliseconds = 2000
                definition.steps[index].retry.attempts = 1
            }
            configuration.definition = definition
            let app = try await buildOrderService(configuration, logger: system.logger)
            try await system.running(system.workerServices()) {
                try await app.test(.router) { client in
                    let client = client.authorized(system.adminKey)
                    let api = CheckoutClient(client: client)
                    try await Self.broker("broker-stop")
                    var sagas: [String] = []
                    for cart in carts {
                        sagas.append(try await Self.checkout(api, cart: cart))
                    }
                    try await Task.sleep(for: .seconds(6))
                    try await Self.broker("broker-start")
                    try await Self.expectEachCompletedOnce(sagas, api)
                }
            }
            #expect(try await Invariants.violations(in: system, initialStock: initialStock) == [])
        }
    }

    /// A memory alarm: RabbitMQ stops reading each connection that publishes, and says so
    /// (`connection.blocked`). The order service's probe answers 503 naming the broker's reason
    /// (a worker's does the same once it publishes), checkouts are still taken (their commands wait, unconfirmed), and once the
    /// alarm clears every saga completes with each command sent once and nothing timed out.
    @Test func sagasTakenWhileTheBrokerBlocksPublishingCompleteOnceTheAlarmClears() async throws {
        try await TestSystem.with { system in
            let initialStock = try await Invariants.stock(in: system)
            let carts = try await Self.carts("cart-alarm", 6, in: system)
            var configuration = system.orderServiceConfiguration
            configuration.definition = try Self.withoutRetries(system)
            let app = try await buildOrderService(configuration, logger: system.logger)
            try await system.running(system.workerServices()) {
                try await app.test(.router) { client in
                    let client = client.authorized(system.adminKey)
                    let api = CheckoutClient(client: client)
                    var sagas = [try await Self.checkout(api, cart: carts[0])]
                    #expect(try await api.finishedSaga(sagas[0], within: .seconds(60)).status == "COMPLETED")

                    try await Self.broker("broker-block")
                    var failure: (any Error)?
                    do {
                        for cart in carts.dropFirst() {
                            sagas.append(try await Self.checkout(api, cart: cart))
                        }
                        // Blocked once it publishes the first command: not ready, and it says why.
                        var body = ""
                        let notReady = await eventually(timeout: .seconds(20), interval: .milliseconds(100)) {
                            let answer = try? await client.execute(uri: "/ready", method: .get) { ($0.status, String(buffer: $0.body)) }
                            body = answer?.1 ?? ""
                            return answer?.0 == .serviceUnavailable
                        }
                        #expect(notReady, "/ready must answer 503 while the broker blocks the connection")
                        #expect(body.contains("\"broker\":\"blocked\""), "\(body)")
                        #expect(body.contains("\"brokerBlocked\":\"low on memory\""), "\(body)")
                        try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
                        // Nothing moves while it lasts: no saga of the blocked ones ends.
                        try await Task.sleep(for: .seconds(2))
                        for id in sagas.dropFirst() {
                            #expect(try await api.saga(id).status == "RUNNING", "saga \(id) moved while the broker blocked publishing")
                        }
                    } catch {
                        failure = error
                    }
                    // Cleared whatever happened above: the next test shares the broker.
                    try await Self.broker("broker-unblock")
                    if let failure { throw failure }

                    let ready = await eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
                        (try? await client.execute(uri: "/ready", method: .get) { $0.status }) == .ok
                    }
                    #expect(ready, "/ready must answer 200 once the alarm clears")
                    try await Self.expectEachCompletedOnce(sagas, api)
                }
            }
            #expect(try await Invariants.violations(in: system, initialStock: initialStock) == [])
        }
    }
}

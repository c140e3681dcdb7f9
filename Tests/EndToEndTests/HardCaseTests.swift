import AMQP
import CheckoutContracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Messaging
@testable import OrderService
import Postgres
import SagaCore
import Synchronization
import Testing
import TestSupport

/// DESIGN.md's hard cases: timeouts, late commands, malformed messages.
@Suite struct HardCaseTests {
    /// The shipped definition where only the payment step has a short timeout and backoff, so its
    /// timeout takes a second, not fifteen. The other steps keep theirs: on a loaded machine a worker
    /// that is merely slow to start must not time out too.
    static func fastPayment(_ system: TestSystem, compensationAttempts: Int = 10) throws -> SagaDefinition {
        try definition(system, changing: "payment") { payment in
            payment.timeoutMilliseconds = 400
            payment.retry.backoffMilliseconds = 50
            payment.compensationRetry.backoffMilliseconds = 100
            payment.compensationRetry.attempts = compensationAttempts
        }
    }

    @Test func stepThatTimesOutIsRetriedThenCompensatedWithEverythingBeforeIt() async throws {
        try await TestSystem.with { system in
            let initialStock = try await Invariants.stock(in: system)
            var configuration = system.orderServiceConfiguration
            configuration.definition = try Self.fastPayment(system)
            let app = try await buildOrderService(configuration, logger: system.logger)
            // The identity worker (payment) is down: its commands wait in its queue.
            try await system.running(system.workerServices(["catalog", "promotion", "cart", "notification"])) {
                try await app.test(.router) { client in
                    let client = client.authorized(system.adminKey)
                    let api = CheckoutClient(client: client)
                    let accepted = try await api.checkout(CheckoutClient.body(coupon: "WELCOME10"))
                    let timedOut = await eventually(timeout: .seconds(20), interval: .milliseconds(100)) {
                        (try? await api.saga(accepted.sagaId).step("payment")) == "COMPENSATING"
                    }
                    #expect(timedOut)
                    // Back up: it takes the queued charges, then the refund; the saga ends compensated.
                    try await system.running(system.workerServices(["identity"])) {
                        let saga = try await api.finishedSaga(accepted.sagaId)
                        #expect(saga.status == "COMPENSATED")
                        #expect(saga.timeline.filter { $0.event == "command_sent" && $0.step == "payment" }.compactMap(\.attempt) == [1, 2, 3])
                        #expect(saga.timeline.contains { $0.event == "step_timed_out" && $0.step == "payment" })
                        #expect(saga.timeline.filter { $0.event == "step_compensated" }.compactMap(\.step) == ["payment", "validate-coupon", "reserve-inventory"])
                        #expect(saga.failureReason == "payment timed out after 3 attempts")
                        // The charge that arrived late was refunded: nothing is captured.
                        let charge = try await system.pool("identity").query("SELECT status FROM charges WHERE saga_id = $1", [accepted.sagaId])
                        #expect(try charge.first?.string("status") == "REFUNDED")
                    }
                }
            }
            #expect(try await Invariants.violations(in: system, initialStock: initialStock) == [])
        }
    }

    @Test func compensationThatNeverSucceedsParksTheSagaAsFailedAndVisible() async throws {
        try await TestSystem.with { system in
            var configuration = system.orderServiceConfiguration
            configuration.definition = try Self.fastPayment(system, compensationAttempts: 2)
            let app = try await buildOrderService(configuration, logger: system.logger)
            // The identity worker never comes: the payment times out, and so does its refund.
            try await system.running(system.workerServices(["catalog", "promotion", "cart", "notification"])) {
                try await app.test(.router) { client in
                    let client = client.authorized(system.adminKey)
                    let api = CheckoutClient(client: client)
                    let accepted = try await api.checkout(CheckoutClient.body(coupon: "WELCOME10"))
                    let saga = try await api.finishedSaga(accepted.sagaId)
                    #expect(saga.status == "FAILED")
                    #expect(saga.step("payment") == "COMPENSATING")
                    #expect(saga.timeline.filter { $0.event == "compensation_sent" && $0.step == "payment" }.compactMap(\.attempt) == [1, 2])
                    #expect(saga.failureReason?.hasPrefix("compensation of payment failed after 2 attempts") == true)
                    // Parked, not dropped: the earlier steps are left for an operator, and the saga is listed.
                    #expect(saga.step("reserve-inventory") == "SUCCEEDED")
                    #expect(try await api.order(accepted.orderId).status == "FAILED")
                    let listed = try await client.execute(uri: "/api/v1/sagas?status=FAILED", method: .get) { response in
                        String(buffer: response.body)
                    }
                    #expect(listed.contains(accepted.sagaId))
                }
            }
        }
    }

    /// The shipped create_order definition with `change` applied to step `name`.
    static func definition(_ system: TestSystem, changing name: String, _ change: (inout StepDefinition) -> Void) throws -> SagaDefinition {
        var definition = try SagaDefinitionRegistry.load(name: "create_order", directory: system.orderServiceConfiguration.sagasDirectory)
        let index = try #require(definition.steps.firstIndex { $0.name == name })
        change(&definition.steps[index])
        return definition
    }

    @Test func notificationOutageDelaysTheConfirmationButNeverCancelsThePaidOrder() async throws {
        try await TestSystem.with { system in
            let initialStock = try await Invariants.stock(in: system)
            var configuration = system.orderServiceConfiguration
            // The shipped number of attempts, with shorter waits between them.
            configuration.definition = try Self.definition(system, changing: "notify") { notify in
                #expect(notify.retry.attempts >= 20, "notify must be retried for a long while")
                notify.timeoutMilliseconds = 300
                notify.retry.backoffMilliseconds = 50
                notify.retry.maxDelayMilliseconds = 200
            }
            let app = try await buildOrderService(configuration, logger: system.logger)
            // The notification worker is down while the saga reaches its last step.
            try await system.running(system.workerServices(["catalog", "promotion", "identity", "cart"])) {
                try await app.test(.router) { client in
                    let client = client.authorized(system.adminKey)
                    let api = CheckoutClient(client: client)
                    let accepted = try await api.checkout(CheckoutClient.body(coupon: "WELCOME10"))
                    // Past the five attempts that used to compensate the order, it is still running.
                    let retried = await eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
                        ((try? await api.saga(accepted.sagaId))?.steps.first { $0.name == "notify" }?.attempt ?? 0) >= 7
                    }
                    #expect(retried)
                    let during = try await api.saga(accepted.sagaId)
                    #expect(during.status == "RUNNING")
                    #expect(!during.timeline.contains { $0.event == "compensation_started" })
                    // Back up: the queued confirmations are sent once, and the saga completes.
                    try await system.running(system.workerServices(["notification"])) {
                        let saga = try await api.finishedSaga(accepted.sagaId)
                        #expect(saga.status == "COMPLETED")
                        #expect(saga.step("payment") == "SUCCEEDED")
                    }
                }
            }
            // Exactly one confirmation, no cancellation notice, the charge captured.
            #expect(try await Invariants.violations(in: system, initialStock: initialStock) == [])
            let kinds = try await system.pool("notification").query("SELECT kind FROM notifications ORDER BY kind")
            #expect(try kinds.map { try $0.string("kind") } == ["ORDER_CONFIRMED"])
        }
    }

    @Test func notificationThatNeverComesBackParksTheSagaWithThePaymentKept() async throws {
        try await TestSystem.with { system in
            var configuration = system.orderServiceConfiguration
            configuration.definition = try Self.definition(system, changing: "notify") { notify in
                notify.timeoutMilliseconds = 300
                notify.retry = RetryPolicy(attempts: 2, backoffMilliseconds: 50, maxDelayMilliseconds: 200, jitter: 0)
            }
            let app = try await buildOrderService(configuration, logger: system.logger)
            try await system.running(system.workerServices(["catalog", "promotion", "identity", "cart"])) {
                try await app.test(.router) { client in
                    let client = client.authorized(system.adminKey)
                    let api = CheckoutClient(client: client)
                    let accepted = try await api.checkout(CheckoutClient.body(coupon: "WELCOME10"))
                    let saga = try await api.finishedSaga(accepted.sagaId)
                    #expect(saga.status == "FAILED")
                    #expect(saga.failureReason?.hasPrefix("notify did not succeed after 2 attempts") == true, "\(saga.failureReason ?? "")")
                    #expect(!saga.timeline.contains { $0.event == "compensation_started" })
                    #expect(saga.step("cart-convert") == "SUCCEEDED")
                    let listed = try await client.execute(uri: "/api/v1/sagas?status=FAILED", method: .get) { String(buffer: $0.body) }
                    #expect(listed.contains(accepted.sagaId))
                }
            }
            // Nothing was undone: the charge stands and the order is confirmed, only its email is missing.
            let charge = try await system.pool("identity").query("SELECT status FROM charges")
            #expect(try charge.map { try $0.string("status") } == ["CAPTURED"])
            let order = try await system.pool("order").query("SELECT status FROM orders")
            #expect(try order.map { try $0.string("status") } == ["CONFIRMED"])
        }
    }

    @Test func databaseOutageAnswers503WithRetryAfterOnEveryRouteThatNeedsIt() async throws {
        try await TestSystem.with { system in
            let app = try await buildOrderService(system.orderServiceConfiguration, logger: system.logger)
            try await app.test(.router) { client in
                let client = client.authorized(system.adminKey)
                let admin = PostgresPool(conninfo: TestInfrastructure.postgresAdminURL, size: 1)
                let database = "\(system.name)_order"
                try await admin.query("ALTER DATABASE \"\(database)\" ALLOW_CONNECTIONS false")
                try await admin.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [database])
                let headers: HTTPFields = [.contentType: "application/json"]
                let calls: [(String, HTTPRequest.Method, String?)] = [
                    ("/api/v1/checkout", .post, CheckoutClient.body()), ("/metrics", .get, nil), ("/api/v1/sagas", .get, nil),
                    ("/api/v1/sagas/\(UUID())", .get, nil), ("/api/v1/orders/\(UUID())", .get, nil),
                ]
                for (uri, method, body) in calls {
                    try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
                        #expect(response.status == .serviceUnavailable, "\(uri)")
                        #expect(response.headers[.contentType] == "application/problem+json", "\(uri)")
                        #expect(response.headers[.retryAfter] == "5", "\(uri)")
                        #expect(String(buffer: response.body).contains("database cannot be reached"), "\(uri)")
                    }
                }
                try await admin.query("ALTER DATABASE \"\(database)\" ALLOW_CONNECTIONS true")
                // Nothing was written, and once the database is back a checkout goes through.
                #expect(try await system.pool("order").query("SELECT count(*) AS n FROM orders").first?.int("n") == 0)
                _ = try await CheckoutClient(client: client).checkout(CheckoutClient.body())
            }
        }
    }

    /// Publishes a saga command straight to a worker's queue, as the order service would.
    static func command(sagaID: String, step: String, type: String, phase: String, attempt: Int = 1, body: String, participant: String) -> AMQPOutgoingMessage {
        AMQPOutgoingMessage(
            exchange: SagaTopology.commandsExchange, routingKey: participant, body: Array(body.utf8),
            properties: AMQPProperties(
                messageID: "\(sagaID):\(step):\(phase):\(attempt)", correlationID: sagaID, type: type,
                contentType: "application/json", replyTo: SagaTopology.repliesQueue,
                headers: ["step": .string(step), "phase": .string(phase), "attempt": .int(Int64(attempt))]))
    }

    @Test func commandArrivingAfterItsCompensationHasNoEffect() async throws {
        try await TestSystem.with { system in
            let before = try await Invariants.stock(in: system)
            let connection = AMQPConnection(configuration: system.amqp, topology: SagaTopology.all, logger: system.logger)
            try await system.running([AMQPConnectionService(connection)] + system.workerServices(["catalog", "identity"])) {
                await connection.waitUntilConnected()
                let sagaID = UUID().uuidString.lowercased()
                let catalog = system.pool("catalog")
                let identity = system.pool("identity")
                func replies(_ pool: PostgresPool) async -> Int {
                    (try? await pool.query("SELECT count(*) AS n FROM outbox").first?.int("n")) ?? 0
                }
                // The compensations are handled first (the commands timed out and come late)…
                try await connection.publish(Self.command(
                    sagaID: sagaID, step: "reserve-inventory", type: CatalogContract.releaseInventory, phase: "compensation",
                    body: #"{"orderId":"o-1"}"#, participant: "catalog"))
                try await connection.publish(Self.command(
                    sagaID: sagaID, step: "payment", type: IdentityContract.refundPayment, phase: "compensation",
                    body: #"{"orderId":"o-1"}"#, participant: "identity"))
                let compensated = await eventually {
                    let a = await replies(catalog)
                    let b = await replies(identity)
                    return a == 1 && b == 1
                }
                #expect(compensated)
                // …then the late commands arrive.
                try await connection.publish(Self.command(
                    sagaID: sagaID, step: "reserve-inventory", type: CatalogContract.reserveInventory, phase: "command",
                    body: #"{"orderId":"o-1","items":[{"productId":"sku-mug","quantity":5}]}"#, participant: "catalog"))
                try await connection.publish(Self.command(
                    sagaID: sagaID, step: "payment", type: IdentityContract.chargePayment, phase: "command",
                    body: #"{"orderId":"o-1","customerId":"cust-ada","cardId":"card-ada-visa","amountCents":100}"#, participant: "identity"))
                let replied = await eventually {
                    let a = (try? await catalog.query("SELECT count(*) AS n FROM outbox").first?.int("n")) ?? 0
                    let b = (try? await identity.query("SELECT count(*) AS n FROM outbox").first?.int("n")) ?? 0
                    return a == 2 && b == 2
                }
                #expect(replied)
                // The compensation succeeded as a no-op; the late command was refused and changed nothing.
                let catalogReplies = try await catalog.query("SELECT type, body FROM outbox ORDER BY id").map { (try $0.string("type"), try $0.string("body")) }
                #expect(catalogReplies.map(\.0) == [CatalogContract.releaseInventory + ".reply", CatalogContract.reserveInventory + ".reply"])
                #expect(catalogReplies[0].1 == #"{"data":{},"outcome":"succeeded"}"#)
                #expect(catalogReplies[1].1.contains(#""reason":"compensated""#))
                #expect(try await Invariants.stock(in: system) == before)
                #expect(try await identity.query("SELECT status FROM charges WHERE saga_id = $1", [sagaID]).first?.string("status") == "REFUNDED")
                #expect(try await identity.query("SELECT amount_cents FROM charges WHERE saga_id = $1", [sagaID]).first?.int("amount_cents") == 0)
            }
        }
    }

    @Test func malformedCommandGoesToTheDeadLetterQueueWithoutBlockingTheNext() async throws {
        try await TestSystem.with { system in
            let connection = AMQPConnection(configuration: system.amqp, topology: SagaTopology.all, logger: system.logger)
            try await system.running([AMQPConnectionService(connection)] + system.workerServices(["catalog"])) {
                await connection.waitUntilConnected()
                let sagaID = UUID().uuidString.lowercased()
                // Not JSON, a command and a compensation (whose handler reads only the saga id); then a
                // command with no envelope at all; then a good one behind them.
                try await connection.publish(Self.command(
                    sagaID: sagaID, step: "reserve-inventory", type: CatalogContract.reserveInventory, phase: "command",
                    body: "{oops", participant: "catalog"))
                try await connection.publish(Self.command(
                    sagaID: sagaID, step: "reserve-inventory", type: CatalogContract.releaseInventory, phase: "compensation",
                    body: "{oops", participant: "catalog"))
                try await connection.publish(AMQPOutgoingMessage(
                    exchange: SagaTopology.commandsExchange, routingKey: "catalog", body: Array("{}".utf8), properties: AMQPProperties()))
                let good = UUID().uuidString.lowercased()
                try await connection.publish(Self.command(
                    sagaID: good, step: "reserve-inventory", type: CatalogContract.reserveInventory, phase: "command",
                    body: #"{"orderId":"o-2","items":[{"productId":"sku-mug","quantity":1}]}"#, participant: "catalog"))
                let catalog = system.pool("catalog")
                let served = await eventually {
                    (try? await catalog.query("SELECT count(*) AS n FROM reservations WHERE saga_id = $1", [good]).first?.int("n")) == 1
                }
                #expect(served)
                let deadLettered = await eventually(timeout: .seconds(20), interval: .milliseconds(500)) {
                    (try? await TestInfrastructure.queueDepth(vhost: system.name, queue: "catalog.commands.dlq")) == 3
                }
                #expect(deadLettered)
                // The malformed ones had no effect and got no reply.
                #expect(try await catalog.query("SELECT count(*) AS n FROM inbox").first?.int("n") == 1)
                #expect(try await catalog.query("SELECT count(*) AS n FROM reservations").first?.int("n") == 1)
            }
        }
    }
}

/// Two order-service instances on one database and one vhost: they compete for replies, outbox
/// rows and deadlines, and every saga still ends exactly once.
@Suite struct MultipleInstancesTests {
    @Test func twoOrderServicesShareTheWork() async throws {
        try await TestSystem.with { system in
            let initialStock = try await Invariants.stock(in: system)
            let first = try await buildOrderService(system.orderServiceConfiguration, logger: system.logger)
            let second = try await buildOrderService(system.orderServiceConfiguration, logger: system.logger)
            try await system.running(system.workerServices()) {
                try await first.test(.router) { a in
                    try await second.test(.router) { b in
                        let apis = [CheckoutClient(client: a.authorized(system.adminKey)), CheckoutClient(client: b.authorized(system.adminKey))]
                        var accepted: [CheckoutClient.Accepted] = []
                        // Ada's three carts complete; the fourth checkout reuses a converted cart and is compensated.
                        for (index, cart) in ["cart-ada-1", "cart-ada-2", "cart-ada-3", "cart-ada-1"].enumerated() {
                            accepted.append(try await apis[index % 2].checkout(CheckoutClient.body(cart: cart, coupon: "WELCOME10")))
                            _ = try await apis[index % 2].finishedSaga(accepted.last!.sagaId)
                        }
                        var statuses: [String] = []
                        for (index, saga) in accepted.enumerated() {
                            // Either instance answers for any saga.
                            statuses.append(try await apis[(index + 1) % 2].saga(saga.sagaId).status)
                        }
                        #expect(statuses == ["COMPLETED", "COMPLETED", "COMPLETED", "COMPENSATED"])
                    }
                }
            }
            #expect(try await Invariants.violations(in: system, initialStock: initialStock) == [])
            // Each command went out once per attempt, whichever relay sent it.
            let duplicates = try await system.pool("catalog").query(
                "SELECT count(*) - count(DISTINCT message_id) AS n FROM inbox").first!.int("n")
            #expect(duplicates == 0)
        }
    }
}

extension MultipleInstancesTests {
    /// The order service keeps the state of the sagas it wrote last (``SagaStateCache``), and
    /// takes it only while the saga's row still has the version it wrote: once another instance
    /// changed the saga, it reads the row again.
    @Test func anInstanceUsesItsCopyOfASagaOnlyUntilAnotherInstanceChangesIt() async throws {
        try await TestSystem.with { system in
            let app = try await buildOrderService(system.orderServiceConfiguration, logger: system.logger)
            // No workers: the saga waits for its first reply, running.
            let accepted = try await app.test(.router) { client in
                try await CheckoutClient(client: client.authorized(system.adminKey)).checkout(CheckoutClient.body())
            }
            let sagaID = try #require(UUID(uuidString: accepted.sagaId))
            let definitions = try [CreateOrderSaga.name, CreateOrderSaga.cancelName].map { name in
                (definition: try SagaDefinitionRegistry.load(name: name, directory: system.orderServiceConfiguration.sagasDirectory),
                 file: "\(name).yaml")
            }
            let pool = system.pool("order")
            let first = try await PostgresSagaStore.open(pool: pool, registering: definitions)
            let second = try await PostgresSagaStore.open(pool: pool, registering: definitions)
            func stored() async throws -> (version: Int, state: SagaState, data: CreateOrderData) {
                let row = try #require(try await pool.query(
                    "SELECT version, state::text AS state, data::text AS data FROM order_sagas WHERE id = $1", [sagaID]).first)
                return (try row.int("version"), try row.json("state", as: SagaState.self), try row.json("data", as: CreateOrderData.self))
            }
            // Each input adds a cent of discount to the data it loaded.
            let inputs = Mutex(0)
            func discount(by store: PostgresSagaStore) async throws {
                let input = inputs.withLock { $0 += 1; return $0 }
                let outcomes = try await store.update([SagaUpdate(sagaID: sagaID, messageID: "cache-test-\(input)", messageType: "test") { saga in
                    saga.data.discountCents = (saga.data.discountCents ?? 0) + 1
                    return SagaWrite(state: saga.machine.state, data: saga.data, deadline: nil, history: [], messages: [])
                }])
                guard case .applied = outcomes.first else { Issue.record("input \(input): \(outcomes)"); return }
            }
            let before = try await stored()
            try await discount(by: first)  // read whole, remembered
            #expect(first.cache.hits == 0)
            let remembered = try await stored()
            #expect(first.cache.entry(sagaID) == SagaStateCache.Entry(version: remembered.version, state: remembered.state, data: remembered.data))
            try await discount(by: first)  // its own copy
            #expect(first.cache.hits == 1)
            try await discount(by: second)  // another instance changes the saga
            try await discount(by: first)  // its copy is stale: read whole
            #expect(first.cache.hits == 1)
            let after = try await stored()
            #expect(after.data.discountCents == (before.data.discountCents ?? 0) + 4)
            #expect(after.version == before.version + 4)
            #expect(first.cache.entry(sagaID)?.data == after.data)
        }
    }
}

/// The database dropping a worker's connections (a restart, a failover) loses and dead-letters
/// nothing: handlers retry until the pool has reconnected.
@Suite struct DatabaseOutageTests {
    @Test func workerKeepsEveryCommandWhileItsDatabaseRefusesConnections() async throws {
        try await TestSystem.with { system in
            let connection = AMQPConnection(configuration: system.amqp, topology: SagaTopology.all, logger: system.logger)
            try await system.running([AMQPConnectionService(connection)] + system.workerServices(["catalog"])) {
                await connection.waitUntilConnected()
                let count = 100
                let commands = (0..<count).map { _ in
                    HardCaseTests.command(
                        sagaID: UUID().uuidString.lowercased(), step: "reserve-inventory", type: CatalogContract.reserveInventory,
                        phase: "command", body: #"{"orderId":"o","items":[{"productId":"sku-mug","quantity":1}]}"#, participant: "catalog")
                }
                let admin = PostgresPool(conninfo: TestInfrastructure.postgresAdminURL, size: 1)
                let database = "\(system.name)_catalog"
                // The database refuses connections for longer than five attempts with backoff take.
                try await admin.query("ALTER DATABASE \"\(database)\" ALLOW_CONNECTIONS false")
                let killed = try await admin.query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [database]).count
                for result in await connection.publish(commands) { try result.get() }
                try await Task.sleep(for: .seconds(5))
                try await admin.query("ALTER DATABASE \"\(database)\" ALLOW_CONNECTIONS true")
                #expect(killed > 0)
                let catalog = system.pool("catalog")
                let all = await eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
                    (try? await catalog.query("SELECT count(*) AS n FROM reservations").first?.int("n")) == count
                }
                #expect(all, "a command was lost or dead-lettered while the database dropped connections")
                #expect(try await catalog.query("SELECT stock FROM products WHERE id = 'sku-mug'").first?.int("stock") == 250 - count)
            }
        }
    }
}

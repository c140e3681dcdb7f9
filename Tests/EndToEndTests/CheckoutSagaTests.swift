import AMQP
import CheckoutContracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Messaging
import OrderService
import Postgres
import Testing
import TestSupport

/// Checkouts through the REST API, with the order service and the five workers running against
/// the real RabbitMQ and PostgreSQL, each test in databases and a vhost of its own.
@Suite struct CheckoutSagaTests {
    /// Runs `body` with the whole system up, then checks DESIGN.md's invariants.
    func withSystem(
        topology: AMQPTopology = SagaTopology.all, _ body: @escaping @Sendable (CheckoutClient, TestSystem) async throws -> Void
    ) async throws {
        try await TestSystem.with(topology: topology) { system in
            let initialStock = try await Invariants.stock(in: system)
            let app = try await buildOrderService(system.orderServiceConfiguration, logger: system.logger)
            try await system.running(system.workerServices()) {
                try await app.test(.router) { client in
                    let client = client.authorized(system.adminKey)
                    try await body(CheckoutClient(client: client), system)
                }
            }
            let violations = try await Invariants.violations(in: system, initialStock: initialStock)
            #expect(violations == [])
        }
    }

    /// `amqp.queueType=quorum`: the same saga runs on replicated queues, which dead-letter a
    /// message past its delivery limit.
    @Test func onQuorumQueuesACheckoutCompletesAndAFailedOneIsCompensated() async throws {
        try await withSystem(topology: SagaTopology.all(queues: .quorum, deliveryLimit: 7)) { api, system in
            let queues = try await TestInfrastructure.managementJSON("/api/queues/\(system.name)") as? [[String: Any]] ?? []
            #expect(queues.count == SagaTopology.all.queues.count)
            for queue in queues {
                let name = queue["name"] as? String ?? ""
                #expect(queue["type"] as? String == "quorum", "\(name)")
                let limit = (queue["arguments"] as? [String: Any])?["x-delivery-limit"] as? Int
                #expect(limit == (name.hasSuffix(".dlq") ? nil : 7), "\(name)")
            }
            let happy = try await api.checkout(CheckoutClient.body(coupon: "WELCOME10"))
            let failed = try await api.checkout(CheckoutClient.body(cart: "cart-ada-2", coupon: "EXPIRED5"))
            #expect(try await api.finishedSaga(happy.sagaId).status == "COMPLETED")
            #expect(try await api.finishedSaga(failed.sagaId).status == "COMPENSATED")
        }
    }

    /// In PostgreSQL: numbers from the sequence, by-number reads, the list's filters and pages,
    /// and a checkout key's view of only its own orders.
    @Test func ordersAreNumberedListedAndEachKeySeesItsOwn() async throws {
        try await withSystem { api, system in
            let first = try await api.checkout(CheckoutClient.body(coupon: "WELCOME10"))
            let second = try await api.checkout(CheckoutClient.body(customer: "cust-grace", cart: "cart-grace-1", card: "card-grace-low"))
            #expect(second.orderNumber == first.orderNumber + 1 && first.orderNumber >= 1001)
            for accepted in [first, second] { _ = try await api.finishedSaga(accepted.sagaId) }
            #expect(try await api.order(number: second.orderNumber).id == second.orderId)

            #expect(try await api.orders().orders.map(\.id) == [second.orderId, first.orderId])
            let page = try await api.orders("limit=1")
            let rest = try await api.orders("limit=1&cursor=\(page.nextCursor ?? "")")
            #expect(page.orders.map(\.id) + rest.orders.map(\.id) == [second.orderId, first.orderId] && rest.nextCursor == nil)
            #expect(try await api.orders("customer=cust-grace").orders.map(\.id) == [second.orderId])
            #expect(try await api.orders("status=CONFIRMED&customer=cust-ada").orders.map(\.id) == [first.orderId])
            #expect(try await api.orders("createdFrom=2000-01-01T00:00:00Z&createdBefore=2001-01-01T00:00:00Z").orders.isEmpty)

            // Another credential, checkout only: its own order and nobody else's.
            let key = try await system.apiKey([.checkout], name: "shop")
            let shop = api.with(key: key)
            let own = try await shop.checkout(CheckoutClient.body(cart: "cart-ada-2"))
            #expect(try await shop.orders().orders.map(\.id) == [own.orderId])
            #expect(try await api.orders().orders.count == 3)
            _ = try await api.finishedSaga(own.sagaId)
        }
    }

    /// A confirmed order cancelled within api.cancelWindow: its cancel_order saga refunds the
    /// charge, puts the stock back, releases the coupon, restores the cart and sends one notice;
    /// the invariants (checked after) hold with the order CANCELLED.
    @Test func aConfirmedOrderIsCancelledRefundedAndEveryEffectUndone() async throws {
        try await withSystem { api, system in
            let before = try await Invariants.stock(in: system)
            let accepted = try await api.checkout(CheckoutClient.body(items: [("sku-espresso", 2), ("sku-mug", 3)], coupon: "WELCOME10"))
            #expect(try await api.finishedSaga(accepted.sagaId).status == "COMPLETED")

            let (status, body) = try await api.cancel(accepted.orderId, reason: "found it cheaper")
            #expect(status == .accepted, "\(body)")
            let cancellation = try #require(try JSONDecoder().decode(CheckoutClient.Order.self, from: Data(body.utf8)).cancellation)
            #expect(cancellation.reason == "found it cheaper")
            let saga = try await api.finishedSaga(cancellation.sagaId)
            #expect(saga.status == "COMPLETED", "\(saga.timeline)")
            #expect(saga.steps.map(\.name) == ["refund-payment", "release-inventory", "release-coupon", "restore-cart", "notify-cancellation"])
            let order = try await api.order(accepted.orderId)
            #expect(order.status == "CANCELLED" && order.sagaStatus == "COMPLETED" && order.cancellation?.sagaStatus == "COMPLETED")
            #expect(try await api.cancel(accepted.orderId).0 == .ok)  // asked again: the same order, nothing new

            #expect(try await Invariants.stock(in: system) == before)
            let coupon = try await system.pool("promotion").query(
                "SELECT c.redeemed_count, r.status FROM coupons c JOIN redemptions r ON r.code = c.code WHERE r.saga_id = $1", [accepted.sagaId])
            #expect(try coupon.first?.int("redeemed_count") == 0 && coupon.first?.string("status") == "RELEASED")
            let charge = try await system.pool("identity").query("SELECT status FROM charges WHERE saga_id = $1", [accepted.sagaId])
            #expect(try charge.first?.string("status") == "REFUNDED")
            let cart = try await system.pool("cart").query("SELECT type FROM cart_events WHERE cart_id = 'cart-ada-1' ORDER BY seq DESC LIMIT 1")
            #expect(try cart.first?.string("type") == "CART_RESTORED")
            // One notice of the cancellation, with the refund; order.cancelled (handled by now or
            // soon) adds none.
            try await Task.sleep(for: .milliseconds(500))
            let notes = try await system.pool("notification").query(
                "SELECT kind, body FROM notifications WHERE order_id = $1 ORDER BY id", [accepted.orderId]
            ).map { (try $0.string("kind"), try $0.string("body")) }
            #expect(notes.map(\.0) == ["ORDER_CONFIRMED", "ORDER_REFUNDED"])
            #expect(notes.last?.1.contains("78.57") == true && notes.last?.1.contains("found it cheaper") == true, "\(notes)")
            // Each delivered as a message file, the order's number in its subject.
            let refund = try String(
                contentsOf: system.mailDirectory.appendingPathComponent("\(cancellation.sagaId)-order_refunded.eml"), encoding: .utf8)
            #expect(refund.contains("Subject: Your order \(accepted.orderNumber) was cancelled and refunded\r\n"), "\(refund)")
            #expect(refund.contains("78.57 was refunded to your card."), "\(refund)")
            #expect(try await api.metrics().contains(#"ordersaga_sagas_started_total{type="cancel_order"} 1"#))
        }
    }

    /// The orders API reads order_views, folded from order_events in the transaction that emits
    /// each event; `ordersaga read-model rebuild` folds them again from the log with the same
    /// result, and a view that went missing is folded again when the service starts.
    @Test func theReadModelIsFoldedFromTheEventsAndRebuildsTheSame() async throws {
        try await withSystem { api, system in
            let stock = try await Invariants.stock(in: system)
            let confirmed = try await api.checkout(CheckoutClient.body(coupon: "WELCOME10"))
            let declined = try await api.checkout(CheckoutClient.body(customer: "cust-grace", cart: "cart-grace-1", card: "card-grace-low"))
            let cancelled = try await api.checkout(CheckoutClient.body(cart: "cart-ada-2"))
            for accepted in [confirmed, declined, cancelled] { _ = try await api.finishedSaga(accepted.sagaId) }
            let (status, body) = try await api.cancel(cancelled.orderId, reason: "changed my mind")
            #expect(status == .accepted, "\(body)")
            let cancellation = try #require(try JSONDecoder().decode(CheckoutClient.Order.self, from: Data(body.utf8)).cancellation)
            _ = try await api.finishedSaga(cancellation.sagaId)

            // What each order's log holds, in order, and what the view made of it.
            let order = system.pool("order")
            func log(_ id: String) async throws -> [String] {
                try await order.query("SELECT type FROM order_events WHERE order_id = $1 ORDER BY seq", [id]).map { try $0.string("type") }
            }
            #expect(try await log(confirmed.orderId) == ["order.created", "order.payment_captured", "order.confirmed"])
            #expect(try await log(declined.orderId) == ["order.created", "order.payment_refused", "order.cancelled"])
            #expect(try await log(cancelled.orderId) == ["order.created", "order.payment_captured", "order.confirmed", "order.cancelled"])
            let views = try await api.orders().orders
            #expect(views.map(\.status) == ["CANCELLED", "CANCELLED", "CONFIRMED"])
            let payments = try await order.query("SELECT id::text AS id, view->>'payment' AS payment FROM order_views").map {
                (try $0.string("id"), try $0.optionalString("payment"))
            }
            #expect(Dictionary(uniqueKeysWithValues: payments) == [
                confirmed.orderId: "CAPTURED", declined.orderId: "REFUSED", cancelled.orderId: "REFUNDED",
            ])

            // The shipped commands: check finds every view as its events fold it; a view changed
            // behind the fold's back is named; rebuild folds it back, and the answers are the same.
            func readModel(_ command: String) async throws -> (Int32, String) {
                try await Process.output(of: TestSystem.binary, ["read-model", command, "--postgres-url", system.url("order")])
            }
            let before = try await api.client.execute(uri: "/api/v1/orders", method: .get) { String(buffer: $0.body) }
            let (clean, report) = try await readModel("check")
            #expect(clean == 0 && report.contains("checked order_views: 3 orders from 10 events") && report.contains("every view is what"), "\(report)")
            try await order.query("UPDATE order_views SET view = jsonb_set(view, '{totalCents}', '1') WHERE id = $1", [declined.orderId])
            let (dirty, problems) = try await readModel("check")
            #expect(dirty == 1 && problems.contains("order \(declined.orderId): its view differs") && problems.contains("1 differ"), "\(problems)")
            // The invariants see it too: the view no longer agrees with the order.
            let violations = try await Invariants.violations(in: system, initialStock: stock)
            #expect(violations == ["order \(declined.orderId) is CANCELLED (total 4980) but its view says CANCELLED (total 1)"])
            let (exit, output) = try await readModel("rebuild")
            #expect(exit == 0 && output.contains("rebuilt order_views: 3 orders from 10 events"), "\(output)")
            let after = try await api.client.execute(uri: "/api/v1/orders", method: .get) { String(buffer: $0.body) }
            #expect(after == before)
            let (rebuilt, recheck) = try await readModel("check")
            #expect(rebuilt == 0, "\(recheck)")

            // An order placed before the log began, as the migration imported it, is folded when the
            // service starts: the same order (its updatedAt is the orders row's, its last change).
            let shown = try await api.order(confirmed.orderId)
            let migration = try String(
                contentsOf: TestSystem.repositoryRoot.appendingPathComponent("schema/order/019_order_read_model.sql"), encoding: .utf8)
            let imports = String(migration[try #require(migration.range(of: "INSERT INTO order_events")).lowerBound...])
            #expect(imports.contains("ORDER BY o.created_at, o.id;"))
            try await order.query("DELETE FROM order_views WHERE id = $1", [confirmed.orderId])
            try await order.query("DELETE FROM order_events WHERE order_id = $1", [confirmed.orderId])
            try await order.query(imports.replacingOccurrences(of: "ORDER BY o.created_at, o.id;", with: "WHERE o.id = '\(confirmed.orderId)'"))
            _ = try await buildOrderService(system.orderServiceConfiguration, logger: system.logger)
            let imported = try await api.order(confirmed.orderId)
            #expect(try await log(confirmed.orderId) == ["order.imported"])
            #expect(imported.status == "CONFIRMED" && imported.payment == "CAPTURED" && imported.number == shown.number)
            #expect(imported.items.map(\.unitPriceCents) == shown.items.map(\.unitPriceCents) && imported.totalCents == shown.totalCents)
            #expect(imported.discountCents == shown.discountCents && imported.createdAt == shown.createdAt && imported.sagaStatus == "COMPLETED")
        }
    }

    @Test func happyCheckoutCompletesWithEveryEffectInPlace() async throws {
        try await withSystem { api, system in
            let accepted = try await api.checkout(CheckoutClient.body(items: [("sku-espresso", 2), ("sku-mug", 3)], coupon: "WELCOME10"))
            #expect(accepted.status == "PENDING")
            let saga = try await api.finishedSaga(accepted.sagaId)
            #expect(saga.status == "COMPLETED")
            #expect(saga.steps.map(\.status) == ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"])
            #expect(saga.timeline.first?.event == "saga_started")
            #expect(saga.timeline.last?.event == "saga_completed")

            // Prices come from the catalog: 2 × 24.90 + 3 × 12.50 = 87.30, less 10 %.
            let order = try await api.order(accepted.orderId)
            #expect(order.status == "CONFIRMED")
            #expect(order.items.map(\.unitPriceCents) == [2490, 1250])
            #expect(order.subtotalCents == 8730)
            #expect(order.discountCents == 873)
            #expect(order.totalCents == 7857)

            let stock = try await Invariants.stock(in: system)
            #expect(stock["sku-espresso"] == 98)
            #expect(stock["sku-mug"] == 247)
            let coupon = try await system.pool("promotion").query("SELECT redeemed_count FROM coupons WHERE code = 'WELCOME10'")
            #expect(try coupon.first?.int("redeemed_count") == 1)
            let charge = try await system.pool("identity").query("SELECT amount_cents, status FROM charges WHERE saga_id = $1", [accepted.sagaId])
            #expect(try charge.first?.int("amount_cents") == 7857)
            #expect(try charge.first?.string("status") == "CAPTURED")
            let cart = try await system.pool("cart").query("SELECT type FROM cart_events WHERE cart_id = 'cart-ada-1' ORDER BY seq DESC LIMIT 1")
            #expect(try cart.first?.string("type") == "CART_CONVERTED")
            let notes = try await system.pool("notification").query("SELECT kind, body FROM notifications WHERE saga_id = $1", [accepted.sagaId])
            #expect(try notes.map { try $0.string("kind") } == ["ORDER_CONFIRMED"])
            #expect(try notes.first?.string("body").contains("78.57") == true)
            // Rendered from its Mustache template and delivered as an .eml file.
            let mail = try String(
                contentsOf: system.mailDirectory.appendingPathComponent("\(accepted.sagaId)-order_confirmed.eml"), encoding: .utf8)
            #expect(mail.contains("Subject: Your order \(accepted.orderNumber) is confirmed\r\n"), "\(mail)")
            #expect(mail.contains("Order \(accepted.orderNumber) is confirmed. Total charged: 78.57."), "\(mail)")
            #expect(mail.contains("Content-Type: text/plain; charset=utf-8\r\n"), "\(mail)")

            let metrics = try await api.metrics()
            #expect(metrics.contains(#"ordersaga_checkouts_total{result="accepted"} 1"#))
            #expect(metrics.contains(#"ordersaga_sagas_finished_total{status="COMPLETED"} 1"#))
            #expect(metrics.contains(#"ordersaga_sagas_started_total{type="create_order"} 1"#))
            #expect(metrics.contains(#"ordersaga_saga_duration_seconds_count{type="create_order",status="COMPLETED"} 1"#))
            #expect(metrics.contains(#"ordersaga_replies_total{result="handled"} 5"#))
            #expect(metrics.contains(#"ordersaga_sagas{status="RUNNING"} 0"#))
            #expect(metrics.contains("ordersaga_reply_handling_seconds_count 5"))
        }
    }

    /// A step rewrites its saga's row (state, data, deadline, version) and nothing an index of
    /// `order_sagas` holds, so PostgreSQL updates the row in place (HOT) instead of adding an
    /// entry to each of the table's indexes; only the update that ends the saga changes its
    /// indexed status (schema/order/020).
    @Test func aStepUpdatesItsSagaRowInPlace() async throws {
        try await withSystem { api, system in
            let order = system.pool("order")
            let indexed = try await order.query(
                """
                SELECT DISTINCT a.attname FROM pg_index i
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum > 0
                 AND (a.attnum = ANY (i.indkey) OR pg_get_expr(i.indpred, i.indrelid) ~ ('\\m' || a.attname || '\\M'))
                WHERE i.indrelid = 'order_sagas'::regclass
                """
            ).map { try $0.string("attname") }
            #expect(Set(indexed).isDisjoint(with: ["state", "data", "deadline_at", "version", "updated_at"]), "\(indexed)")
            // Nor does a trigger check each of its history rows against it (schema/order/021).
            let historyKeys = try await order.query(
                "SELECT count(*) AS n FROM pg_constraint WHERE conrelid = 'saga_history'::regclass AND contype = 'f'").first!.int("n")
            #expect(historyKeys == 0)

            let accepted = try await api.checkout(CheckoutClient.body(coupon: "WELCOME10"))
            #expect(try await api.finishedSaga(accepted.sagaId).status == "COMPLETED")
            // One update per reply: five. The order service's backends report their counts
            // within ten seconds of going idle (PostgreSQL flushes an idle backend's counts then).
            var updates = 0, inPlace = 0
            let clock = ContinuousClock()
            let until = clock.now + .seconds(30)
            while updates < 5 && clock.now < until {
                let row = try await order.query("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'order_sagas'").first
                updates = try row?.int("n_tup_upd") ?? 0
                inPlace = try row?.int("n_tup_hot_upd") ?? 0
                if updates < 5 { try await Task.sleep(for: .milliseconds(200)) }
            }
            #expect(updates == 5)
            #expect(inPlace == 4, "\(inPlace) of \(updates) updates were HOT")
        }
    }

    @Test func checkoutWithoutCouponSkipsTheCouponStep() async throws {
        try await withSystem { api, _ in
            let accepted = try await api.checkout(CheckoutClient.body())
            let saga = try await api.finishedSaga(accepted.sagaId)
            #expect(saga.status == "COMPLETED")
            #expect(saga.step("validate-coupon") == "SKIPPED")
            let order = try await api.order(accepted.orderId)
            #expect(order.totalCents == 4980)
        }
    }

    /// Each failing step, with the checkout that makes it fail and the steps undone before it.
    static let failures: [(step: String, body: String, undone: [String], reason: String)] = [
        ("reserve-inventory", CheckoutClient.body(items: [("sku-kettle", 6)], coupon: "WELCOME10"), [], "out_of_stock"),
        ("validate-coupon", CheckoutClient.body(coupon: "EXPIRED5"), ["reserve-inventory"], "coupon_expired"),
        ("payment", CheckoutClient.body(customer: "cust-grace", cart: "cart-grace-1", coupon: "WELCOME10", card: "card-grace-low"),
         ["validate-coupon", "reserve-inventory"], "card_declined"),
        ("cart-convert", CheckoutClient.body(cart: "cart-grace-1", coupon: "WELCOME10"),
         ["payment", "validate-coupon", "reserve-inventory"], "cart_not_owned"),
    ]

    @Test(arguments: 0..<4)
    func checkoutFailingAtAStepIsCompensatedInReverse(_ index: Int) async throws {
        let failure = Self.failures[index]
        try await withSystem { api, system in
            let before = try await Invariants.stock(in: system)
            let accepted = try await api.checkout(failure.body)
            let saga = try await api.finishedSaga(accepted.sagaId)
            #expect(saga.status == "COMPENSATED")
            #expect(saga.step(failure.step) == "FAILED")
            #expect(saga.failureReason?.contains(failure.reason) == true)
            let compensated = saga.timeline.filter { $0.event == "step_compensated" }.compactMap(\.step)
            #expect(compensated == failure.undone)
            let order = try await api.order(accepted.orderId)
            #expect(order.status == "CANCELLED")

            // Every earlier effect is undone.
            #expect(try await Invariants.stock(in: system) == before)
            let redeemed = try await system.pool("promotion").query("SELECT sum(redeemed_count) AS n FROM coupons")
            #expect(try redeemed.first?.int("n") == 0)
            let captured = try await system.pool("identity").query("SELECT count(*) AS n FROM charges WHERE status = 'CAPTURED'")
            #expect(try captured.first?.int("n") == 0)
            // The customer is told, once.
            let notified = await eventually {
                let rows = try? await system.pool("notification").query(
                    "SELECT kind FROM notifications WHERE saga_id = $1", [accepted.sagaId])
                return (try? rows?.map { try $0.string("kind") }) == ["ORDER_CANCELLED"]
            }
            #expect(notified)
        }
    }

    @Test func sameCommandDeliveredTwiceHasOneEffect() async throws {
        try await TestSystem.with { system in
            let before = try await Invariants.stock(in: system)
            let connection = AMQPConnection(configuration: system.amqp, topology: SagaTopology.all, logger: system.logger)
            try await system.running(system.workerServices(["catalog"]) + [AMQPConnectionService(connection)]) {
                await connection.waitUntilConnected()
                let sagaID = UUID().uuidString.lowercased()
                func command(attempt: Int) -> AMQPOutgoingMessage {
                    AMQPOutgoingMessage(
                        exchange: SagaTopology.commandsExchange, routingKey: "catalog",
                        body: Array(#"{"orderId":"o-1","items":[{"productId":"sku-grinder","quantity":3}]}"#.utf8),
                        properties: AMQPProperties(
                            messageID: "\(sagaID):reserve-inventory:command:\(attempt)", correlationID: sagaID,
                            type: CatalogContract.reserveInventory, contentType: "application/json", replyTo: SagaTopology.repliesQueue,
                            headers: ["step": .string("reserve-inventory"), "phase": .string("command"), "attempt": .int(Int64(attempt))]))
                }
                // The same message twice, then a retry of the step (a new attempt, a new message id).
                try await connection.publish(command(attempt: 1))
                try await connection.publish(command(attempt: 1))
                try await connection.publish(command(attempt: 2))
                let catalog = system.pool("catalog")
                let handled = await eventually {
                    (try? await catalog.query("SELECT count(*) AS n FROM inbox").first?.int("n")) == 2
                }
                #expect(handled)
                // Give a wrongly handled duplicate the time to show.
                try await Task.sleep(for: .milliseconds(300))
                #expect(try await catalog.query("SELECT count(*) AS n FROM inbox").first?.int("n") == 2)
                let stock = try await Invariants.stock(in: system)
                #expect(stock["sku-grinder"] == before["sku-grinder"]! - 3)
                #expect(try await catalog.query("SELECT count(*) AS n FROM reservation_lines").first?.int("n") == 1)
                // One reply per distinct message, both saying the same reservation.
                let replies = try await catalog.query("SELECT body FROM outbox WHERE type = 'catalog.reserve_inventory.reply' ORDER BY id")
                #expect(replies.count == 2)
                #expect(try Set(replies.map { try $0.string("body") }).count == 1)
            }
        }
    }

    @Test func invalidCheckoutGets4xxNamingTheFieldAndWritesNothing() async throws {
        try await withSystem { api, system in
            let (malformedStatus, malformed) = try await api.refusedCheckout("{not json")
            #expect(malformedStatus == .badRequest)
            #expect(malformed.status == 400)

            let (status, problem) = try await api.refusedCheckout(
                #"{"customerId":"","cartId":"cart-ada-1","items":[{"productId":"sku-mug","quantity":0},{"productId":"sku-mug","quantity":true,"price":1}],"paymentCardId":"card-ada-visa","shippingAddress":{"line1":"x","city":"y","postalCode":"z","country":"gb"},"extra":1}"#)
            #expect(status == .unprocessableContent)
            let fields = Set((problem.errors ?? []).map(\.field))
            #expect(fields == ["customerId", "items[0].quantity", "items[1].quantity", "items[1].price", "items[1].productId", "shippingAddress.country", "extra"])
            #expect(problem.detail.contains("items[0].quantity: must be a whole number from 1 to 1000"))

            // Without items it is a checkout by cart: the cart, the card and the address are still required.
            let (missingStatus, missing) = try await api.refusedCheckout(#"{"customerId":"cust-ada"}"#)
            #expect(missingStatus == .unprocessableContent)
            #expect(Set((missing.errors ?? []).map(\.field)) == ["cartId", "paymentCardId", "shippingAddress"])

            // A valid body that does not say it is JSON is refused too (415), naming the header.
            for contentType in ["text/plain", "application/x-www-form-urlencoded"] {
                let (status, problem) = try await api.refusedCheckout(CheckoutClient.body(), contentType: contentType)
                #expect(status == .unsupportedMediaType)
                #expect(problem.errors?.map(\.field) == ["Content-Type"])
                #expect(problem.detail.contains(contentType))
            }
            #expect(try await api.metrics().contains(#"ordersaga_checkouts_total{result="refused"} 5"#))

            // A body over the limit: 413 naming the limit, whatever its size.
            for size in [1 << 20, 10 << 20] {
                let huge = #"{"customerId":""# + String(repeating: "x", count: size) + #""}"#
                let (status, problem) = try await api.refusedCheckout(huge)
                #expect(status == .contentTooLarge)
                #expect(problem.detail == "the body is over the limit of 262144 bytes")
            }

            // Nothing was written anywhere.
            for (database, tables) in [("order", ["orders", "order_sagas", "saga_history", "outbox", "idempotency_keys"]),
                                       ("catalog", ["outbox", "inbox", "reservations"]), ("promotion", ["outbox", "inbox", "redemptions"]),
                                       ("identity", ["outbox", "inbox", "charges"]), ("cart", ["outbox", "inbox", "cart_conversions"]),
                                       ("notification", ["outbox", "inbox", "notifications"])] {
                for table in tables {
                    let count = try await system.pool(database).query("SELECT count(*) AS n FROM \(table)").first!.int("n")
                    #expect(count == 0, "\(database).\(table) has \(count) rows")
                }
            }
        }
    }

    @Test func idempotencyKeyMakesARetriedCheckoutAnswerTheSame() async throws {
        try await withSystem { api, system in
            let first = try await api.checkout(CheckoutClient.body(), idempotencyKey: "key-1")
            let again = try await api.checkout(CheckoutClient.body(), idempotencyKey: "key-1")
            #expect(first.orderId == again.orderId)
            #expect(first.sagaId == again.sagaId)
            // The same key with another checkout is refused, and creates nothing.
            let (status, problem) = try await api.refusedCheckout(CheckoutClient.body(items: [("sku-mug", 1)]), idempotencyKey: "key-1")
            #expect(status == .unprocessableContent)
            #expect(problem.errors?.map(\.field) == ["Idempotency-Key"])
            #expect(try await api.finishedSaga(first.sagaId).status == "COMPLETED")
            #expect(try await system.pool("order").query("SELECT count(*) AS n FROM orders").first?.int("n") == 1)
        }
    }
}

import CheckoutContracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Messaging
@testable import OrderService
import SagaCore
import Testing
import TestSupport

/// The order service's engine and REST API with an in-memory store: the checkout's whole path, its
/// failures and its edge cases, in milliseconds and without any server.
@Suite struct OrderServiceTests {
    func post(_ client: some TestClientProtocol, _ body: String, key: String? = nil, contentType: String = "application/json")
        async throws -> (HTTPResponse.Status, Data)
    {
        var headers: HTTPFields = [.contentType: contentType]
        if let key { headers[HTTPField.Name("Idempotency-Key")!] = key }
        return try await client.execute(uri: "/api/v1/checkout", method: .post, headers: headers, body: ByteBuffer(string: body)) {
            ($0.status, Data($0.body.readableBytesView))
        }
    }

    func get<T: Decodable>(_ client: some TestClientProtocol, _ uri: String, as type: T.Type) async throws -> T {
        try await client.execute(uri: uri, method: .get) { response in
            #expect(response.status == .ok, "\(uri): \(String(buffer: response.body))")
            return try JSONDecoder().decode(T.self, from: Data(response.body.readableBytesView))
        }
    }

    @Test func checkoutRunsEveryStepAndConfirmsTheOrder() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let (status, body) = try await post(client, Harness.checkout())
            #expect(status == .accepted)
            let accepted = try JSONDecoder().decode(Accepted.self, from: body)
            let played = try await harness.play()
            #expect(played == ["reserve-inventory:command", "validate-coupon:command", "payment:command", "cart-convert:command", "notify:command"])
            let saga = try await get(client, "/api/v1/sagas/\(accepted.sagaId)", as: SagaView.self)
            #expect(saga.status == "COMPLETED")
            #expect(saga.steps.map(\.status) == ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"])
            let order = try await get(client, "/api/v1/orders/\(accepted.orderId)", as: OrderView.self)
            #expect(order.status == "CONFIRMED")
            // Prices come from the catalog's reply, the discount from the coupon's, merged before the next command.
            #expect(order.subtotalCents == 2000 && order.discountCents == 200 && order.totalCents == 1800)
            #expect(order.items.map(\.unitPriceCents) == [1000])
            let events = harness.store.outbox.map(\.message).filter { $0.exchange == SagaTopology.eventsExchange }.map(\.type)
            #expect(events == [OrderEvents.created, OrderEvents.paymentCaptured, OrderEvents.confirmed])
            #expect(order.payment == "CAPTURED")
        }
    }

    @Test func refusedPaymentCompensatesWhatTookEffectInReverse() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let (_, body) = try await post(client, Harness.checkout())
            let accepted = try JSONDecoder().decode(Accepted.self, from: body)
            let played = try await harness.play { $0.type == IdentityContract.chargePayment ? .refuse : .succeed }
            #expect(played == [
                "reserve-inventory:command", "validate-coupon:command", "payment:command",
                "validate-coupon:compensation", "reserve-inventory:compensation",
            ])
            let order = try await get(client, "/api/v1/orders/\(accepted.orderId)", as: OrderView.self)
            #expect(order.status == "CANCELLED" && order.payment == "REFUSED" && order.reason == "payment failed: refused: the test said no")
            let events = harness.store.outbox.map(\.message).filter { $0.exchange == SagaTopology.eventsExchange }
            #expect(events.map(\.type) == [OrderEvents.created, OrderEvents.paymentRefused, OrderEvents.cancelled])
            let refused = try JSONDecoder().decode(OrderEvent.self, from: Data(events[1].body.utf8))
            #expect(refused.reason == "refused: the test said no")
            let event = try JSONDecoder().decode(OrderEvent.self, from: Data(events[2].body.utf8))
            #expect(event.reason == "payment failed: refused: the test said no")
        }
    }

    @Test func sameReplyTwiceMovesTheSagaOnce() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            _ = try await post(client, Harness.checkout(coupon: nil))
            let first = try Harness.command(try #require(harness.store.publishAll().first { $0.exchange == SagaTopology.commandsExchange }))
            try await harness.reply(to: first, .succeeded(try Harness.result(of: first)))
            try await harness.reply(to: first, .succeeded(try Harness.result(of: first)))
            let commands = harness.store.publishAll().filter { $0.exchange == SagaTopology.commandsExchange }
            #expect(commands.map(\.type) == [IdentityContract.chargePayment])  // the coupon step is skipped
        }
    }

    @Test func idempotencyKeyReplaysTheSameOrderAndRefusesAnotherCheckout() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let (firstStatus, first) = try await post(client, Harness.checkout(), key: "k-1")
            let (againStatus, again) = try await post(client, Harness.checkout(), key: "k-1")
            #expect(firstStatus == .accepted && againStatus == .accepted)
            #expect(try JSONDecoder().decode(Accepted.self, from: first).sagaId == JSONDecoder().decode(Accepted.self, from: again).sagaId)
            let (status, body) = try await post(client, Harness.checkout(cart: "cart-ada-2"), key: "k-1")
            #expect(status == .unprocessableContent)
            #expect(try JSONDecoder().decode(Problem.self, from: body).errors?.map(\.field) == ["Idempotency-Key"])
            #expect(try await get(client, "/api/v1/sagas", as: SagaListView.self).sagas.count == 1)
        }
    }

    @Test func aKeyAnswersTheSameCheckoutWrittenAnotherWayAndRefusesAnother() async throws {
        let order = UUID(), saga = UUID()
        #expect(IdempotencyKeys.answer(stored: ("a", order, saga, 1001), request: "a") == .replayed(orderID: order, sagaID: saga, number: 1001))
        #expect(IdempotencyKeys.answer(stored: ("a", order, saga, 1001), request: "b") == .conflict)
        // The comparison is of the canonical JSON: key order and spacing do not make it another checkout.
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let (_, first) = try await post(client, #"{"customerId":"cust-ada","cartId":"c-1","items":[{"productId":"sku-mug","quantity":1}],"paymentCardId":"card-ada-visa","shippingAddress":{"line1":"1","city":"L","postalCode":"N1","country":"GB"}}"#, key: "k")
            let (status, again) = try await post(client, #"{ "shippingAddress": {"country":"GB","postalCode":"N1","city":"L","line1":"1"}, "paymentCardId":"card-ada-visa", "items":[{"quantity":1,"productId":"sku-mug"}], "cartId":"c-1", "customerId":"cust-ada" }"#, key: "k")
            #expect(status == .accepted)
            #expect(try JSONDecoder().decode(Accepted.self, from: first).orderId == JSONDecoder().decode(Accepted.self, from: again).orderId)
        }
    }

    @Test func invalidCheckoutNamesEachFieldAndStoresNothing() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let (status, body) = try await post(client, #"{"customerId":"","items":[]}"#)
            #expect(status == .unprocessableContent)
            let fields = Set(try JSONDecoder().decode(Problem.self, from: body).errors?.map(\.field) ?? [])
            #expect(fields.isSuperset(of: ["customerId", "cartId", "items", "paymentCardId", "shippingAddress"]))
            let (plainStatus, _) = try await post(client, Harness.checkout(), contentType: "text/plain")
            #expect(plainStatus == .unsupportedMediaType)
            #expect(harness.store.outbox.isEmpty)
            #expect(try await get(client, "/api/v1/sagas", as: SagaListView.self).sagas.isEmpty)
        }
    }

    @Test func unknownIdsAnswer404AndMalformedOnes422() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            for uri in ["/api/v1/sagas/\(UUID())", "/api/v1/orders/\(UUID())"] {
                try await client.execute(uri: uri, method: .get) { #expect($0.status == .notFound, "\(uri)") }
            }
            try await client.execute(uri: "/api/v1/sagas/nope", method: .get) { #expect($0.status == .unprocessableContent) }
            try await client.execute(uri: "/api/v1/sagas?status=DONE", method: .get) { #expect($0.status == .unprocessableContent) }
        }
    }

    /// Start-to-close, through the engine and the store: a command the broker has not taken does
    /// not time out; once taken, its timeout counts from then.
    @Test func aCommandStillInTheOutboxDoesNotTimeOut() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let (_, body) = try await post(client, Harness.checkout(coupon: nil))
            let accepted = try JSONDecoder().decode(Accepted.self, from: body)
            harness.store.advance(milliseconds: 6000)  // past reserve-inventory's 5 s
            #expect(try await harness.engine.sweepDeadlines(limit: 10) == 1)
            var saga = try await get(client, "/api/v1/sagas/\(accepted.sagaId)", as: SagaView.self)
            #expect(!saga.timeline.contains { $0.event == "attempt_timed_out" })
            harness.store.publishAll()  // the broker takes it now
            harness.store.advance(milliseconds: 4000)
            _ = try await harness.engine.sweepDeadlines(limit: 10)
            saga = try await get(client, "/api/v1/sagas/\(accepted.sagaId)", as: SagaView.self)
            #expect(!saga.timeline.contains { $0.event == "attempt_timed_out" }, "only 4 s since the broker took it")
            harness.store.advance(milliseconds: 1500)
            _ = try await harness.engine.sweepDeadlines(limit: 10)
            saga = try await get(client, "/api/v1/sagas/\(accepted.sagaId)", as: SagaView.self)
            #expect(saga.timeline.contains { $0.event == "attempt_timed_out" && $0.step == "reserve-inventory" })
        }
    }

    @Test func readinessFollowsTheDatabaseWhileLivenessStays() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .ok) }
            harness.store.setUnavailable(true)
            try await client.execute(uri: "/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains(#""database":"down""#))
            }
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""database":"down""#))
            }
            harness.store.setUnavailable(false)
            try await client.execute(uri: "/ready", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func metricsCountCheckoutsAndSagasNow() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            _ = try await post(client, Harness.checkout())
            _ = try await post(client, "{}")
            let text = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(text.contains(#"ordersaga_checkouts_total{result="accepted"} 1"#))
            #expect(text.contains(#"ordersaga_checkouts_total{result="refused"} 1"#))
            #expect(text.contains(#"ordersaga_sagas{status="RUNNING"} 1"#))
        }
    }

    /// `GET /api/v1/sagas/{id}/events`: an ended saga's stream is its whole timeline, each line with
    /// its place as `id`, then `end`; `Last-Event-ID` resumes after a line.
    @Test func eventStreamSendsTheTimelineThenTheEndAndResumes() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let (_, body) = try await post(client, Harness.checkout())
            let accepted = try JSONDecoder().decode(Accepted.self, from: body)
            _ = try await harness.play()
            let saga = try await get(client, "/api/v1/sagas/\(accepted.sagaId)", as: SagaView.self)
            let uri = "/api/v1/sagas/\(accepted.sagaId)/events"
            let stream = try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/event-stream")
                return String(buffer: response.body)
            }
            let events = stream.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.count == saga.timeline.count + 1, "\(stream)")
            #expect(events.first?.hasPrefix("id: 0\nevent: timeline\ndata: {") == true)
            #expect(events.last == #"event: end\#ndata: {"status":"COMPLETED","version":\#(saga.version)}"#)
            let resumed = try await client.execute(uri: uri, method: .get, headers: [HTTPField.Name("Last-Event-ID")!: "3"]) { String(buffer: $0.body) }
            #expect(resumed.hasPrefix("id: 4\n"), "\(resumed)")
            #expect(resumed.components(separatedBy: "\n\n").filter { !$0.isEmpty }.count == saga.timeline.count - 4 + 1)
            try await client.execute(uri: uri, method: .get, headers: [HTTPField.Name("Last-Event-ID")!: "-1"]) { response in
                #expect(response.status == .unprocessableContent)
            }
            try await client.execute(uri: "/api/v1/sagas/\(UUID().uuidString)/events", method: .get) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    /// Sagas started by type, and how long each took from creation to its end, by the store's clock.
    @Test func metricsCountSagasStartedAndTimeThemToTheirEnd() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            _ = try await post(client, Harness.checkout())
            harness.store.advance(milliseconds: 1500)
            _ = try await harness.play()
            let text = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(text.contains(#"ordersaga_sagas_started_total{type="create_order"} 1"#))
            #expect(text.contains(#"ordersaga_saga_duration_seconds_count{type="create_order",status="COMPLETED"} 1"#), "\(text)")
            #expect(text.contains(#"ordersaga_saga_duration_seconds_bucket{type="create_order",status="COMPLETED",le="1.0"} 0"#))
            #expect(text.contains(#"ordersaga_saga_duration_seconds_bucket{type="create_order",status="COMPLETED",le="2.5"} 1"#))
            // Each step from its command to its reply: the first waited the 1.5 s, the others none.
            let first = #"ordersaga_step_duration_seconds_bucket{type="create_order",step="reserve-inventory",phase="command",outcome="SUCCEEDED""#
            #expect(text.contains(first + #",le="1.0"} 0"#), "\(text)")
            #expect(text.contains(first + #",le="5.0"} 1"#))
            let payment = #"ordersaga_step_duration_seconds_bucket{type="create_order",step="payment",phase="command",outcome="SUCCEEDED""#
            #expect(text.contains(payment + #",le="0.005"} 1"#))
        }
    }

    /// `GET /api/v1/sagas/stats`: the window's sagas by status, what those in flight wait on, and
    /// how long the ended ones took, by the store's clock.
    @Test func sagaStatsCountShowWhatSagasWaitOnAndTimeTheEnded() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            _ = try await post(client, Harness.checkout())
            harness.store.advance(milliseconds: 1500)
            _ = try await harness.play()  // the first completes, 1.5 s after it started
            _ = try await post(client, Harness.checkout(cart: "cart-ada-2"))  // the second waits on its first command
            let stats = try await get(client, "/api/v1/sagas/stats", as: SagaStatsView.self)
            #expect(stats.window == "1h" && stats.started == 2)
            #expect(stats.byStatus == ["RUNNING": 1, "COMPENSATING": 0, "COMPLETED": 1, "COMPENSATED": 0, "FAILED": 0])
            #expect(stats.waiting == [.init(step: "reserve-inventory", phase: "command", count: 1)])
            #expect(stats.ended == .init(count: 1, p50Ms: 1500, p99Ms: 1500))

            harness.store.advance(milliseconds: 2 * 3_600_000)
            let later = try await get(client, "/api/v1/sagas/stats?window=1h", as: SagaStatsView.self)
            #expect(later.started == 0 && later.ended.count == 0)
            #expect(try await get(client, "/api/v1/sagas/stats?window=3h", as: SagaStatsView.self).started == 2)

            for bad in ["soon", "0s", "31d"] {
                try await client.execute(uri: "/api/v1/sagas/stats?window=\(bad)", method: .get) { response in
                    #expect(response.status == .unprocessableContent, "\(bad)")
                    #expect(String(buffer: response.body).contains("window"))
                }
            }
        }
    }

    /// `?stuckFor=`: the sagas in flight that have not changed for that long, longest first.
    @Test func stuckSagasAreTheOnesInFlightUnchangedLongestFirst() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let (_, first) = try await post(client, Harness.checkout())
            harness.store.advance(milliseconds: 1000)
            let (_, second) = try await post(client, Harness.checkout(cart: "cart-ada-2"))
            harness.store.advance(milliseconds: 60_000)
            let (_, fresh) = try await post(client, Harness.checkout(cart: "cart-ada-3"))
            let ids = try [first, second, fresh].map { try JSONDecoder().decode(Accepted.self, from: $0).sagaId }
            let stuck = try await get(client, "/api/v1/sagas?stuckFor=30s", as: SagaListView.self)
            #expect(stuck.sagas.map(\.id) == [ids[0], ids[1]])
            #expect(try await get(client, "/api/v1/sagas?stuckFor=30s&status=RUNNING&limit=1", as: SagaListView.self).sagas.map(\.id) == [ids[0]])
            #expect(try await get(client, "/api/v1/sagas?stuckFor=2m", as: SagaListView.self).sagas.isEmpty)
            #expect(try await get(client, "/api/v1/sagas?stuckFor=30s&status=COMPENSATING", as: SagaListView.self).sagas.isEmpty)
            for (query, field) in [("stuckFor=soon", "stuckFor"), ("stuckFor=30s&status=COMPLETED", "status")] {
                try await client.execute(uri: "/api/v1/sagas?\(query)", method: .get) { response in
                    #expect(response.status == .unprocessableContent, "\(query)")
                    #expect(String(buffer: response.body).contains(field))
                }
            }
        }
    }

    /// `Prefer: wait=N`: a checkout whose saga ends meanwhile answers 201 with the order as it
    /// ended; one that does not, 202 as ever; a preference the server does not know is ignored.
    @Test func preferWaitAnswersWithTheOutcomeWhenTheSagaEndsInTime() async throws {
        #expect(OrderServiceAPI.preferredWait("wait=10") == 10)
        #expect(OrderServiceAPI.preferredWait("respond-async, wait=5") == 5)
        #expect(OrderServiceAPI.preferredWait("wait=600") == OrderServiceAPI.maxWait)
        for ignored in ["wait=0", "wait=-1", "wait=soon", "handling=strict", ""] { #expect(OrderServiceAPI.preferredWait(ignored) == nil, "\(ignored)") }
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let waiting = Task {
                try await client.execute(
                    uri: "/api/v1/checkout", method: .post, headers: [.contentType: "application/json", HTTPField.Name("Prefer")!: "wait=30"],
                    body: ByteBuffer(string: Harness.checkout())
                ) { response in (response.status, response.headers, String(buffer: response.body)) }
            }
            // The participants answer while the request waits.
            _ = await eventually(timeout: .seconds(10), interval: .milliseconds(20)) { (try? await harness.store.sagas(SagaQuery()).sagas.count) == 1 }
            _ = try await harness.play()
            let (status, headers, body) = try await waiting.value
            #expect(status == .created, "\(body)")
            #expect(headers[HTTPField.Name("Preference-Applied")!] == "wait=30")
            let order = try JSONDecoder().decode(OrderView.self, from: Data(body.utf8))
            #expect(order.status == "CONFIRMED" && order.sagaStatus == "COMPLETED" && order.totalCents != nil)
            #expect(headers[.location] == "/api/v1/orders/\(order.id)")

            // Nobody answers: after the wait, 202 as without it.
            let started = ContinuousClock.now
            let (late, _) = try await client.execute(
                uri: "/api/v1/checkout", method: .post, headers: [.contentType: "application/json", HTTPField.Name("Prefer")!: "wait=1"],
                body: ByteBuffer(string: Harness.checkout(cart: "cart-ada-2"))
            ) { ($0.status, String(buffer: $0.body)) }
            #expect(late == .accepted)
            #expect(ContinuousClock.now - started >= .seconds(1))
        }
    }

    /// `GET /api/v1/sagas` a page at a time: every saga once, newest first, however it is cut;
    /// with filters by type, the step waited on and age; a cursor from another list is refused.
    @Test func sagaListPagesThroughEverySagaOnceAndFilters() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            var ids: [String] = []
            for cart in ["cart-ada-1", "cart-ada-2", "cart-ada-3", "cart-ada-1", "cart-ada-2"] {
                let (_, body) = try await post(client, Harness.checkout(cart: cart))
                ids.append(try JSONDecoder().decode(Accepted.self, from: body).sagaId)
                harness.store.advance(milliseconds: 1000)
            }
            for limit in [1, 2, 3, 5, 10] {
                var seen: [String] = []
                var cursor: String?
                repeat {
                    let page = try await get(client, "/api/v1/sagas?limit=\(limit)" + (cursor.map { "&cursor=\($0)" } ?? ""), as: SagaListView.self)
                    #expect(page.sagas.count <= limit)
                    seen += page.sagas.map(\.id)
                    cursor = page.nextCursor
                } while cursor != nil
                #expect(seen == ids.reversed(), "limit \(limit)")
            }
            let list = try await get(client, "/api/v1/sagas?type=create_order&step=reserve-inventory", as: SagaListView.self)
            #expect(list.sagas.count == 5 && list.sagas.allSatisfy { $0.type == "create_order" && $0.step == "reserve-inventory" })
            #expect(try await get(client, "/api/v1/sagas?type=cancel_order", as: SagaListView.self).sagas.isEmpty)
            #expect(try await get(client, "/api/v1/sagas?step=payment", as: SagaListView.self).sagas.isEmpty)
            // Created at least 3 s ago: the first two (the clock moved 1 s after each).
            #expect(try await get(client, "/api/v1/sagas?olderThan=4s", as: SagaListView.self).sagas.map(\.id) == [ids[1], ids[0]])
            // The idle list pages too, by its own order.
            let idle = try await get(client, "/api/v1/sagas?stuckFor=1s&limit=2", as: SagaListView.self)
            #expect(idle.sagas.map(\.id) == [ids[0], ids[1]])
            let rest = try await get(client, "/api/v1/sagas?stuckFor=1s&limit=2&cursor=\(idle.nextCursor ?? "")", as: SagaListView.self)
            #expect(rest.sagas.map(\.id) == [ids[2], ids[3]])
            for (query, field) in [
                ("cursor=\(idle.nextCursor ?? "")", "cursor"), ("cursor=bm9wZQ", "cursor"), ("step=pay%20ment", "step"), ("olderThan=soon", "olderThan"),
            ] {
                try await client.execute(uri: "/api/v1/sagas?\(query)", method: .get) { response in
                    #expect(response.status == .unprocessableContent, "\(query)")
                    #expect(String(buffer: response.body).contains(#""field":"\#(field)""#), "\(query)")
                }
            }
        }
    }

    @Test func pastTheInFlightLimitCheckoutAnswers503WithRetryAfterAndWritesNothing() async throws {
        let harness = try Harness(maxInFlight: 2)
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            #expect(try await post(client, Harness.checkout()).0 == .accepted)
            #expect(try await post(client, Harness.checkout()).0 == .accepted)
            // Two running (counted here since the last read): the third is shed.
            let shed = try await client.execute(
                uri: "/api/v1/checkout", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: Harness.checkout())
            ) { $0 }
            #expect(shed.status == .serviceUnavailable)
            #expect(shed.headers[.retryAfter] == "1")
            #expect(shed.headers[.contentType] == "application/problem+json")
            #expect(String(buffer: shed.body).contains("more than 2 sagas are in flight"))
            #expect(try await harness.store.sagasInFlight() == 2)
            // The store's count after the sagas ended admits again.
            try await harness.play()
            try await harness.admission.refresh()
            #expect(try await post(client, Harness.checkout()).0 == .accepted)
            let text = try await client.execute(uri: "/metrics", method: .get) { String(buffer: $0.body) }
            #expect(text.contains(#"ordersaga_checkouts_total{result="shed"} 1"#))
        }
    }
}

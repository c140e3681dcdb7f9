import CheckoutContracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import OrderService
import Testing
import TestSupport

/// `POST /api/v1/orders/{id}/cancel`: a running order compensates and ends CANCELLED; a confirmed
/// one, within api.cancelWindow, is undone by a cancel_order saga; asking again answers the same;
/// past the window it is refused and unchanged; a checkout key cancels only its own.
@Suite struct CancelTests {
    func cancel(_ client: some TestClientProtocol, _ orderID: String, key: String, body: String? = nil, contentType: String = "application/json")
        async throws -> (HTTPResponse.Status, String)
    {
        var headers: HTTPFields = [.authorization: "Bearer \(key)"]
        if body != nil { headers[.contentType] = contentType }
        return try await client.execute(
            uri: "/api/v1/orders/\(orderID)/cancel", method: .post, headers: headers, body: body.map { ByteBuffer(string: $0) }
        ) { ($0.status, String(buffer: $0.body)) }
    }

    @Test func aRunningOrderCompensatesAndEndsCancelledAndAskingAgainAnswersTheSame() async throws {
        let harness = try Harness()
        let shop = harness.addKey([.checkout])
        let other = harness.addKey([.checkout])
        try await harness.app.test(.router) { client in
            let placed = try await Harness.place(client, key: shop)
            // Catalog reserved; the coupon step has been sent and not answered.
            _ = try await harness.play { $0.step == "reserve-inventory" ? .succeed : .ignore }

            #expect(try await cancel(client, placed.orderId, key: other).0 == .notFound)
            let (status, body) = try await cancel(client, placed.orderId, key: shop, body: #"{"reason": "ordered twice"}"#)
            #expect(status == .accepted, "\(body)")
            let answered = try JSONDecoder().decode(OrderView.self, from: Data(body.utf8))
            #expect(answered.status == "PENDING" && answered.sagaStatus == "COMPENSATING")
            #expect(try await cancel(client, placed.orderId, key: shop).0 == .accepted)  // while it compensates

            // What it did is undone, newest first: the coupon it was redeeming, then the stock.
            let undone = try await harness.play()
            #expect(undone == ["validate-coupon:compensation", "reserve-inventory:compensation"])
            let (again, order) = try await cancel(client, placed.orderId, key: shop)
            #expect(again == .ok)
            #expect(try JSONDecoder().decode(OrderView.self, from: Data(order.utf8)).status == "CANCELLED")
            let saga = try #require(try await harness.store.saga(UUID(uuidString: placed.sagaId)!))
            #expect(saga.status == "COMPENSATED")
            let line = try #require(saga.timeline.first { $0.event == "operator_compensate" })
            #expect(line.actor?.hasPrefix("key:") == true && line.detail?.contains("ordered twice") == true, "\(line)")
        }
    }

    @Test func aConfirmedOrderIsRefundedAndUndoneByACancelOrderSaga() async throws {
        let harness = try Harness()
        let shop = harness.addKey([.checkout])
        let other = harness.addKey([.checkout])
        try await harness.app.test(.router) { client in
            let placed = try await Harness.place(client, key: shop)
            try await harness.play()
            #expect(try await cancel(client, placed.orderId, key: other).0 == .notFound)

            let (status, body) = try await cancel(client, placed.orderId, key: shop, body: #"{"reason": "changed my mind"}"#)
            #expect(status == .accepted, "\(body)")
            let answered = try JSONDecoder().decode(OrderView.self, from: Data(body.utf8))
            let cancellation = try #require(answered.cancellation)
            #expect(answered.status == "CONFIRMED" && answered.sagaStatus == "COMPLETED")
            #expect(cancellation.sagaStatus == "RUNNING" && cancellation.reason == "changed my mind")
            // Asked again: the same cancellation, no second saga.
            let (again, repeated) = try await cancel(client, placed.orderId, key: shop)
            #expect(again == .accepted)
            #expect(try JSONDecoder().decode(OrderView.self, from: Data(repeated.utf8)).cancellation?.sagaId == cancellation.sagaId)

            // Each step is a compensation of the create_order saga, naming it; the money goes back first.
            var undone: [String: String?] = [:]
            let steps = try await harness.play { command in
                if command.type != NotificationContract.sendCancellation {
                    undone[command.type] = try? command.payload(Compensate.self).sagaId
                }
                #expect(command.sagaID == cancellation.sagaId)
                return .succeed
            }
            #expect(steps == ["refund-payment", "release-inventory", "release-coupon", "restore-cart", "notify-cancellation"].map { "\($0):command" })
            #expect(undone == [
                IdentityContract.refundPayment: placed.sagaId, CatalogContract.releaseInventory: placed.sagaId,
                PromotionContract.releaseCoupon: placed.sagaId, CartContract.restoreCart: placed.sagaId,
            ])

            let (done, final) = try await cancel(client, placed.orderId, key: shop)
            #expect(done == .ok)
            let order = try JSONDecoder().decode(OrderView.self, from: Data(final.utf8))
            #expect(order.status == "CANCELLED" && order.sagaStatus == "COMPLETED" && order.cancellation?.sagaStatus == "COMPLETED")
            #expect(order.totalCents == answered.totalCents)
            // The world hears order.cancelled once, from the cancel_order saga, with the reason.
            let events = harness.store.outbox.map(\.message).filter { $0.type == OrderEvents.cancelled }
            #expect(events.count == 1)
            let event = try JSONDecoder().decode(OrderEvent.self, from: Data(try #require(events.first).body.utf8))
            #expect(event.sagaId == cancellation.sagaId && event.reason == "changed my mind" && event.totalCents == order.totalCents)
            let saga = try #require(try await harness.store.saga(UUID(uuidString: cancellation.sagaId)!))
            #expect(saga.definition.name == "cancel_order" && saga.status == "COMPLETED" && saga.orderId == placed.orderId)
            #expect(try await harness.store.orders(OrderQuery(status: "CANCELLED")).orders.map(\.id) == [placed.orderId])
        }
    }

    @Test func aCancellationParkedForAnOperatorLeavesTheOrderConfirmedAndTellsNoOne() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let key = harness.adminKey
            let placed = try await Harness.place(client, key: key)
            try await harness.play()
            #expect(try await cancel(client, placed.orderId, key: key).0 == .accepted)
            // The refund is refused every time: retried past its 30 attempts, then parked.
            var refusals = 0
            for _ in 0..<40 {
                try await harness.play { command in
                    guard command.step == "refund-payment" else { return .succeed }
                    refusals += 1
                    return .refuse
                }
                harness.store.advance(milliseconds: 61_000)
                _ = try await harness.engine.sweepDeadlines(limit: 10)
            }
            #expect(refusals == 30)
            let order = try #require(try await harness.store.order(.id(UUID(uuidString: placed.orderId)!), owner: nil))
            #expect(order.status == "CONFIRMED" && order.cancellation?.sagaStatus == "FAILED")
            #expect(!harness.store.outbox.contains { $0.message.type == OrderEvents.cancelled })
            let (status, body) = try await cancel(client, placed.orderId, key: key)
            #expect(status == .conflict && body.contains("saga-status show \(order.cancellation?.sagaId ?? "?")"), "\(body)")
        }
    }

    @Test func aConfirmedOrderPastTheCancelWindowIsRefusedAndUnchanged() async throws {
        for window in [Duration.seconds(60), .zero] {
            let harness = try Harness(cancelWindow: window)
            try await harness.app.test(.router) { client in
                let key = harness.adminKey
                let placed = try await Harness.place(client, key: key)
                try await harness.play()
                harness.store.advance(milliseconds: 60_001)
                let before = try await harness.store.order(.id(UUID(uuidString: placed.orderId)!), owner: nil)
                let written = harness.store.outbox.count
                let (status, body) = try await cancel(client, placed.orderId, key: key)
                #expect(status == .conflict, "\(body)")
                #expect(body.contains("api.cancelWindow") && body.contains("nothing was changed"), "\(body)")
                #expect(try await harness.store.order(.id(UUID(uuidString: placed.orderId)!), owner: nil) == before)
                #expect(harness.store.outbox.count == written)
            }
        }
    }

    @Test func badRequestsChangeNothing() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let key = harness.adminKey
            let running = try await Harness.place(client, key: key, cart: "cart-ada-2")
            for (request, contentType, expected, field) in [
                (#"{"reason": ""}"#, "application/json", HTTPResponse.Status.unprocessableContent, "reason"),
                (#"{"why": "no"}"#, "application/json", .unprocessableContent, "why"),
                ("not json", "application/json", .badRequest, nil),
                (#"{"reason": "x"}"#, "text/plain", .unsupportedMediaType, "Content-Type"),
            ] as [(String, String, HTTPResponse.Status, String?)] {
                let (answer, problem) = try await cancel(client, running.orderId, key: key, body: request, contentType: contentType)
                #expect(answer == expected, "\(request): \(problem)")
                if let field { #expect(problem.contains(#""field":"\#(field)""#), "\(request): \(problem)") }
            }
            #expect(try await cancel(client, UUID().uuidString, key: key).0 == .notFound)
            #expect(try await harness.store.saga(UUID(uuidString: running.sagaId)!)?.status == "RUNNING")
        }
    }
}

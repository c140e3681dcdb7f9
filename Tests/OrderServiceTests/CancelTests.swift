import CheckoutContracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import OrderService
import Testing
import TestSupport

/// `POST /api/v1/orders/{id}/cancel`: a running order compensates and ends CANCELLED; asking
/// again answers the same; a confirmed order is refused and unchanged; a checkout key cancels
/// only its own.
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

    @Test func aConfirmedOrderIsRefusedAndBadRequestsChangeNothing() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let key = harness.adminKey
            let placed = try await Harness.place(client, key: key)
            _ = try await harness.play()
            let before = try await harness.store.saga(UUID(uuidString: placed.sagaId)!)
            let (status, body) = try await cancel(client, placed.orderId, key: key)
            #expect(status == .conflict)
            #expect(body.contains("CONFIRMED"))

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
            #expect(try await harness.store.saga(UUID(uuidString: placed.sagaId)!) == before)
            #expect(try await harness.store.saga(UUID(uuidString: running.sagaId)!)?.status == "RUNNING")
        }
    }
}

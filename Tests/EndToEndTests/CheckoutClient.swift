import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

/// The REST calls the end-to-end tests make, through Hummingbird's test client.
struct CheckoutClient {
    let client: any TestClientProtocol

    /// The same service, called with another API key.
    func with(key: String) -> CheckoutClient {
        CheckoutClient(client: ((client as? AuthorizedClient)?.client ?? client).authorized(key))
    }

    struct Accepted: Decodable { var orderId: String; var orderNumber: Int; var sagaId: String; var status: String }
    struct Saga: Decodable {
        struct Step: Decodable { var name: String; var status: String; var attempt: Int; var compensationAttempt: Int }
        struct Entry: Decodable { var event: String; var step: String?; var attempt: Int?; var detail: String? }
        var id: String
        var status: String
        var failureReason: String?
        var steps: [Step]
        var timeline: [Entry]
        var version: Int
        func step(_ name: String) -> String? { steps.first { $0.name == name }?.status }
    }
    struct Order: Decodable {
        struct Item: Decodable { var productId: String; var quantity: Int; var unitPriceCents: Int? }
        var id: String
        var number: Int
        var customerId: String
        var status: String
        var items: [Item]
        var subtotalCents: Int?
        var discountCents: Int?
        var totalCents: Int?
        var sagaStatus: String
        struct Cancellation: Decodable { var sagaId: String; var sagaStatus: String; var reason: String }
        var cancellation: Cancellation?
        var payment: String?
        var createdAt: String
    }
    struct Problem: Decodable {
        struct FieldProblem: Decodable { var field: String; var problem: String }
        var status: Int
        var title: String
        var detail: String
        var errors: [FieldProblem]?
    }

    static func body(
        customer: String = "cust-ada", cart: String = "cart-ada-1", items: [(String, Int)] = [("sku-espresso", 2)],
        coupon: String? = nil, card: String = "card-ada-visa"
    ) -> String {
        let lines = items.map { #"{"productId":"\#($0.0)","quantity":\#($0.1)}"# }.joined(separator: ",")
        let couponField = coupon.map { #","couponCode":"\#($0)""# } ?? ""
        return """
            {"customerId":"\(customer)","cartId":"\(cart)","items":[\(lines)]\(couponField),"paymentCardId":"\(card)",
             "shippingAddress":{"line1":"12 St James's Square","city":"London","postalCode":"SW1Y 4JH","country":"GB"}}
            """
    }

    /// POSTs a checkout that must be accepted.
    func checkout(_ body: String, idempotencyKey: String? = nil) async throws -> Accepted {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let idempotencyKey { headers[HTTPField.Name("Idempotency-Key")!] = idempotencyKey }
        return try await client.execute(uri: "/api/v1/checkout", method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
            #expect(response.status == .accepted, "\(String(buffer: response.body))")
            let accepted = try JSONDecoder().decode(Accepted.self, from: Data(response.body.readableBytesView))
            #expect(response.headers[.location] == "/api/v1/orders/\(accepted.orderId)")
            return accepted
        }
    }

    /// POSTs a checkout that must be refused; returns the status and the problem.
    func refusedCheckout(_ body: String, idempotencyKey: String? = nil, contentType: String = "application/json") async throws -> (HTTPResponse.Status, Problem) {
        var headers: HTTPFields = [.contentType: contentType]
        if let idempotencyKey { headers[HTTPField.Name("Idempotency-Key")!] = idempotencyKey }
        return try await client.execute(uri: "/api/v1/checkout", method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
            #expect(response.headers[.contentType] == "application/problem+json")
            return (response.status, try JSONDecoder().decode(Problem.self, from: Data(response.body.readableBytesView)))
        }
    }

    func saga(_ id: String) async throws -> Saga {
        try await client.execute(uri: "/api/v1/sagas/\(id)", method: .get) { response in
            #expect(response.status == .ok)
            return try JSONDecoder().decode(Saga.self, from: Data(response.body.readableBytesView))
        }
    }

    func order(_ id: String) async throws -> Order {
        try await client.execute(uri: "/api/v1/orders/\(id)", method: .get) { response in
            #expect(response.status == .ok)
            return try JSONDecoder().decode(Order.self, from: Data(response.body.readableBytesView))
        }
    }

    struct OrderList: Decodable { var orders: [Order]; var nextCursor: String? }

    /// `GET /api/v1/orders?<query>`.
    func orders(_ query: String = "") async throws -> OrderList {
        try await client.execute(uri: "/api/v1/orders?\(query)", method: .get) { response in
            #expect(response.status == .ok, "\(String(buffer: response.body))")
            return try JSONDecoder().decode(OrderList.self, from: Data(response.body.readableBytesView))
        }
    }

    /// POSTs a cancel of the order; returns the status and the order (or problem) as text.
    func cancel(_ orderID: String, reason: String? = nil) async throws -> (HTTPResponse.Status, String) {
        try await client.execute(
            uri: "/api/v1/orders/\(orderID)/cancel", method: .post, headers: reason == nil ? [:] : [.contentType: "application/json"],
            body: reason.map { ByteBuffer(string: #"{"reason":"\#($0)"}"#) }
        ) { ($0.status, String(buffer: $0.body)) }
    }

    func order(number: Int) async throws -> Order {
        try await client.execute(uri: "/api/v1/orders/by-number/\(number)", method: .get) { response in
            #expect(response.status == .ok)
            return try JSONDecoder().decode(Order.self, from: Data(response.body.readableBytesView))
        }
    }

    /// `GET /metrics` as text.
    func metrics() async throws -> String {
        try await client.execute(uri: "/metrics", method: .get) { response in
            #expect(response.status == .ok)
            return String(buffer: response.body)
        }
    }

    /// Polls the saga until it reaches a final status (or `within` passes).
    func finishedSaga(_ id: String, within: Duration = .seconds(30)) async throws -> Saga {
        var saga = try await saga(id)
        let clock = ContinuousClock()
        let deadline = clock.now + within
        while !["COMPLETED", "COMPENSATED", "FAILED"].contains(saga.status) && clock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            saga = try await self.saga(id)
        }
        return saga
    }
}

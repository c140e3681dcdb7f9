import CheckoutContracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import OrderService
import Testing
import TestSupport

/// Orders people can find: each has a number from 1001 up, readable by number; the list filters
/// by customer, status and creation time, pages through every order once, and shows a checkout
/// credential only the orders it placed.
@Suite struct OrderListTests {
    func list(_ client: some TestClientProtocol, _ query: String, key: String) async throws -> OrderListView {
        try await client.execute(uri: "/api/v1/orders?\(query)", method: .get, headers: [.authorization: "Bearer \(key)"]) { response in
            #expect(response.status == .ok, "\(query): \(String(buffer: response.body))")
            return try JSONDecoder().decode(OrderListView.self, from: Data(response.body.readableBytesView))
        }
    }

    @Test func ordersHaveNumbersAndTheListFiltersAndPages() async throws {
        let harness = try Harness()
        let shop = harness.addKey([.checkout])
        let other = harness.addKey([.checkout])
        try await harness.app.test(.router) { client in
            var placed: [Accepted] = []
            for (index, customer) in ["cust-ada", "cust-bob", "cust-ada", "cust-ada", "cust-bob"].enumerated() {
                placed.append(try await Harness.place(client, key: index == 4 ? other : shop, cart: "cart-\(index)", customer: customer))
                harness.store.advance(milliseconds: 60_000)
            }
            #expect(placed.map(\.orderNumber) == [1001, 1002, 1003, 1004, 1005])
            let refused = placed[3].sagaId
            _ = try await harness.play { $0.step == "payment" && $0.sagaID == refused ? .refuse : .succeed }
            let admin = harness.adminKey

            // By number, as by id.
            let byNumber = try await client.execute(uri: "/api/v1/orders/by-number/1003", method: .get, headers: [.authorization: "Bearer \(admin)"]) {
                try JSONDecoder().decode(OrderView.self, from: Data($0.body.readableBytesView))
            }
            #expect(byNumber.id == placed[2].orderId && byNumber.number == 1003)
            for (uri, status) in [("by-number/999999", HTTPResponse.Status.notFound), ("by-number/12x", .unprocessableContent)] {
                try await client.execute(uri: "/api/v1/orders/\(uri)", method: .get, headers: [.authorization: "Bearer \(admin)"]) {
                    #expect($0.status == status, "\(uri)")
                }
            }

            // Newest first; every order once at any page size.
            let newestFirst = placed.reversed().map(\.orderId)
            for limit in [1, 2, 3, 5, 10] {
                var seen: [String] = []
                var cursor: String?
                repeat {
                    let page = try await list(client, "limit=\(limit)" + (cursor.map { "&cursor=\($0)" } ?? ""), key: admin)
                    #expect(page.orders.count <= limit)
                    seen += page.orders.map(\.id)
                    cursor = page.nextCursor
                } while cursor != nil
                #expect(seen == newestFirst, "limit \(limit)")
            }
            #expect(try await list(client, "customer=cust-bob", key: admin).orders.map(\.number) == [1005, 1002])
            #expect(try await list(client, "status=CANCELLED", key: admin).orders.map(\.number) == [1004])
            #expect(try await list(client, "customer=cust-ada&status=CONFIRMED", key: admin).orders.map(\.number) == [1003, 1001])
            // The in-memory clock starts at 2027-01-15T08:00:00Z and moved a minute after each.
            let window = "createdFrom=2027-01-15T08:01:00Z&createdBefore=2027-01-15T08:03:00.000%2B00:00"
            #expect(try await list(client, window, key: admin).orders.map(\.number) == [1003, 1002])

            // A checkout key lists and reads only what it placed.
            #expect(try await list(client, "", key: shop).orders.map(\.number) == [1004, 1003, 1002, 1001])
            #expect(try await list(client, "", key: other).orders.map(\.number) == [1005])
            #expect(try await list(client, "customer=cust-bob", key: shop).orders.map(\.number) == [1002])
            try await client.execute(uri: "/api/v1/orders/by-number/1005", method: .get, headers: [.authorization: "Bearer \(shop)"]) {
                #expect($0.status == .notFound)
            }

            let sagaCursor = try await client.execute(uri: "/api/v1/sagas?limit=1", method: .get, headers: [.authorization: "Bearer \(admin)"]) {
                try JSONDecoder().decode(SagaListView.self, from: Data($0.body.readableBytesView)).nextCursor ?? ""
            }
            for (query, field) in [
                ("status=SHIPPED", "status"), ("createdFrom=yesterday", "createdFrom"), ("limit=0", "limit"),
                ("createdFrom=2027-01-15T08:03:00Z&createdBefore=2027-01-15T08:01:00Z", "createdBefore"),
                ("cursor=\(sagaCursor)", "cursor"), ("customer=", "customer"),
            ] {
                try await client.execute(uri: "/api/v1/orders?\(query)", method: .get, headers: [.authorization: "Bearer \(admin)"]) { response in
                    #expect(response.status == .unprocessableContent, "\(query)")
                    #expect(String(buffer: response.body).contains(#""field":"\#(field)""#), "\(query): \(String(buffer: response.body))")
                }
            }
        }
    }
}

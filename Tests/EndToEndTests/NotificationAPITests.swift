import Foundation
import Testing
import TestSupport

extension WorkerAPI {
    /// The notification service's REST API as it ships: templates are read, previewed and replaced
    /// (one that does not parse is refused, naming its line), the next message uses the new text, and
    /// the notifications sent are listed by customer and by order, a page at a time.
    @Suite struct NotificationAPITests {
        static func call(_ method: String, _ port: Int, _ path: String, key: String?, body: String? = nil) async throws -> WorkerAPI.Reply {
            try await WorkerAPI.call(method, port, path, key: key, body: body)
        }

        @Test(.timeLimit(.minutes(3)))
        func templatesAreReplacedAndTheNextMessageUsesThem() async throws {
            try await WorkerAPI.withSystem(serving: "notification") { system, notification, order in
                let admin = system.adminKey
                let shopper = try await system.apiKey([.checkout])
                #expect(try await Self.call("GET", notification, "/api/v1/templates", key: shopper).status == 403)
                let kinds = (try await Self.call("GET", notification, "/api/v1/templates", key: admin).json()["templates"] as? [[String: Any]] ?? [])
                    .compactMap { $0["kind"] as? String }
                #expect(kinds == ["ORDER_CANCELLED", "ORDER_CONFIRMED", "ORDER_REFUNDED"])

                // A template that does not parse names its part and line, and changes nothing.
                let broken = try await Self.call(
                    "PUT", notification, "/api/v1/templates/ORDER_CONFIRMED", key: admin, body: #"{"subject":"Order {{order}}","body":"Hello\n{{#order}} never closed"}"#)
                #expect(broken.status == 422 && broken.fields == ["body"] && broken.text.contains("line 2"), "\(broken.text)")
                #expect(try await Self.call("PUT", notification, "/api/v1/templates/ORDER_SHIPPED", key: admin, body: #"{"subject":"s","body":"b"}"#).status == 404)

                // A preview renders with samples, or the values given; nothing is stored.
                let text = #""subject":"Order {{order}} for {{customerId}}","body":"Dear {{customerId}}, {{total}} for order {{order}}. Thanks!""#
                let preview = try await Self.call("POST", notification, "/api/v1/templates/ORDER_CONFIRMED/preview", key: admin, body: "{\(text)}")
                #expect(preview.json()["subject"] as? String == "Order 1001 for cust-ada", "\(preview.text)")
                let given = try await Self.call(
                    "POST", notification, "/api/v1/templates/ORDER_CONFIRMED/preview", key: admin, body: #"{\#(text),"values":{"customerId":"Kay","order":"7"}}"#)
                #expect(given.json()["body"] as? String == "Dear Kay, 56.07 for order 7. Thanks!", "\(given.text)")
                let badValues = try await Self.call(
                    "POST", notification, "/api/v1/templates/ORDER_CONFIRMED/preview", key: admin, body: #"{\#(text),"values":{"colour":"red"}}"#)
                #expect(badValues.status == 422 && badValues.fields == ["values"])

                let replaced = try await Self.call("PUT", notification, "/api/v1/templates/ORDER_CONFIRMED", key: admin, body: "{\(text)}")
                #expect(replaced.status == 200 && replaced.json()["updatedBy"] as? String == "key:" + admin.split(separator: "_")[1], "\(replaced.text)")
                let stored = try await Self.call("GET", notification, "/api/v1/templates/ORDER_CONFIRMED", key: admin)
                #expect(stored.json()["subject"] as? String == "Order {{order}} for {{customerId}}" && stored.json()["updatedBy"] != nil)
                #expect(try await Self.call("GET", notification, "/api/v1/templates/ORDER_SHIPPED", key: admin).status == 404)

                // The next confirmation uses it.
                let body = #"{"customerId":"cust-ada","cartId":"cart-ada-1","items":[{"productId":"sku-mug","quantity":1}],"paymentCardId":"card-ada-visa","shippingAddress":{"line1":"1","city":"L","postalCode":"N1","country":"GB"}}"#
                let placed = try await WorkerAPI.call("POST", order, "/api/v1/checkout", key: admin, body: body, headers: ["Prefer": "wait=30"])
                #expect(placed.json()["status"] as? String == "CONFIRMED", "\(placed.text)")
                let orderID = placed.json()["id"] as? String ?? ""
                var sent: [[String: Any]] = []
                _ = await eventually(timeout: .seconds(20)) {
                    sent = (try? await Self.call("GET", notification, "/api/v1/notifications?customer=cust-ada", key: admin).json()["notifications"] as? [[String: Any]]) ?? []
                    return !sent.isEmpty
                }
                #expect(sent.first?["body"] as? String == "Dear cust-ada, 12.50 for order \(placed.json()["number"] as? Int ?? 0). Thanks!", "\(sent)")
                #expect(sent.first?["orderId"] as? String == orderID)
                let byOrder = try await Self.call("GET", notification, "/api/v1/notifications?order=\(orderID)", key: admin).json()["notifications"] as? [[String: Any]]
                #expect(byOrder?.count == 1)
                #expect((try await Self.call("GET", notification, "/api/v1/notifications?customer=cust-grace", key: admin).json()["notifications"] as? [[String: Any]])?.isEmpty == true)

                // A second message, and pages of one.
                let cancel = try await WorkerAPI.call(
                    "POST", order, "/api/v1/checkout", key: admin,
                    body: #"{"customerId":"cust-grace","cartId":"cart-grace-1","items":[{"productId":"sku-grinder","quantity":1}],"paymentCardId":"card-grace-low","shippingAddress":{"line1":"1","city":"L","postalCode":"N1","country":"GB"}}"#,
                    headers: ["Prefer": "wait=30"])
                #expect(cancel.json()["status"] as? String == "CANCELLED", "\(cancel.text)")
                var ids: [Int] = []
                var cursor: String?
                _ = await eventually(timeout: .seconds(20)) {
                    (try? await Self.call("GET", notification, "/api/v1/notifications", key: admin).json()["notifications"] as? [[String: Any]])?.count == 2
                }
                repeat {
                    let page = try await Self.call("GET", notification, "/api/v1/notifications?limit=1" + (cursor.map { "&cursor=\($0)" } ?? ""), key: admin)
                    ids += (page.json()["notifications"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
                    cursor = page.json()["nextCursor"] as? String
                } while cursor != nil && ids.count < 5
                #expect(ids.count == 2 && ids == ids.sorted(by: >), "\(ids)")
                #expect(try await Self.call("GET", notification, "/api/v1/notifications?order=nope&cursor=x", key: admin).fields.sorted() == ["cursor", "order"])
            }
        }
    }
}

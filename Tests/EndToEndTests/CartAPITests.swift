import Foundation
import Testing
import TestSupport

extension WorkerAPI {
    /// The cart service's REST API as it ships, and checkout by cart: a cart is built through the API
    /// by the credential that owns it, checked out by its id (the order service reads it with the
    /// caller's credential), converted by the saga, and the order keeps the lines the cart had.
    @Suite struct CartAPITests {
        static func call(_ method: String, _ port: Int, _ path: String, key: String?, body: String? = nil, headers: [String: String] = [:]) async throws -> WorkerAPI.Reply {
            try await WorkerAPI.call(method, port, path, key: key, body: body, headers: headers)
        }

        static func items(_ reply: WorkerAPI.Reply) -> [String] {
            (reply.json()["items"] as? [[String: Any]] ?? []).map { "\($0["productId"] as? String ?? "?")×\($0["quantity"] as? Int ?? 0)" }
        }

        static let address = #""shippingAddress":{"line1":"12 St James's Square","city":"London","postalCode":"SW1Y 4JH","country":"GB"}"#

        @Test(.timeLimit(.minutes(3)))
        func aCartBuiltThroughTheAPIIsCheckedOutByItsIdAndTheOrderKeepsItsLines() async throws {
            try await WorkerAPI.withSystem(serving: "cart") { system, cart, order in
                let shopper = try await system.apiKey([.checkout])
                let other = try await system.apiKey([.checkout])
                let admin = system.adminKey

                let created = try await Self.call("POST", cart, "/api/v1/carts", key: shopper, body: #"{"customerId":"cust-ada"}"#)
                #expect(created.status == 201, "\(created.text)")
                let id = created.json()["id"] as? String ?? ""
                #expect(id.hasPrefix("cart-") && created.headers["location"] == "/api/v1/carts/\(id)")
                #expect(created.json()["status"] as? String == "ACTIVE" && Self.items(created).isEmpty)

                // Add, add to the same line, set, add and remove.
                _ = try await Self.call("POST", cart, "/api/v1/carts/\(id)/items", key: shopper, body: #"{"productId":"sku-espresso","quantity":1}"#)
                _ = try await Self.call("POST", cart, "/api/v1/carts/\(id)/items", key: shopper, body: #"{"productId":"sku-mug","quantity":2}"#)
                _ = try await Self.call("POST", cart, "/api/v1/carts/\(id)/items", key: shopper, body: #"{"productId":"sku-mug","quantity":1}"#)
                let set = try await Self.call("PUT", cart, "/api/v1/carts/\(id)/items/sku-espresso", key: shopper, body: #"{"quantity":2}"#)
                #expect(Self.items(set) == ["sku-espresso×2", "sku-mug×3"], "\(set.text)")
                _ = try await Self.call("POST", cart, "/api/v1/carts/\(id)/items", key: shopper, body: #"{"productId":"sku-kettle","quantity":1}"#)
                let removed = try await Self.call("DELETE", cart, "/api/v1/carts/\(id)/items/sku-kettle", key: shopper)
                #expect(removed.status == 200 && Self.items(removed) == ["sku-espresso×2", "sku-mug×3"] && removed.json()["version"] as? Int == 7)

                // Bad changes name their field and change nothing; another's cart is as missing; admin sees any.
                let bad = try await Self.call("POST", cart, "/api/v1/carts/\(id)/items", key: shopper, body: #"{"productId":"sku-mug","quantity":0,"priceCents":1}"#)
                #expect(bad.status == 422 && Set(bad.fields) == ["quantity", "priceCents"], "\(bad.text)")
                let tooMany = try await Self.call("POST", cart, "/api/v1/carts/\(id)/items", key: shopper, body: #"{"productId":"sku-mug","quantity":998}"#)
                #expect(tooMany.status == 422 && tooMany.fields == ["quantity"], "\(tooMany.text)")
                #expect(try await Self.call("PUT", cart, "/api/v1/carts/\(id)/items/sku-grinder", key: shopper, body: #"{"quantity":1}"#).status == 404)
                #expect(try await Self.call("GET", cart, "/api/v1/carts/\(id)", key: other).status == 404)
                #expect(try await Self.call("POST", cart, "/api/v1/carts/\(id)/items", key: other, body: #"{"productId":"sku-mug","quantity":1}"#).status == 404)
                #expect(try await Self.call("GET", cart, "/api/v1/carts/\(id)", key: admin).json()["version"] as? Int == 7)
                #expect(try await Self.call("GET", cart, "/api/v1/carts/cart-ada-1", key: shopper).status == 404)  // seeded: no owner but admin

                // Someone else cannot check it out; a customer other than the cart's is refused.
                let body = #"{"cartId":"\#(id)","paymentCardId":"card-ada-visa",\#(Self.address)}"#
                let stranger = try await Self.call("POST", order, "/api/v1/checkout", key: other, body: body)
                #expect(stranger.status == 422 && stranger.fields == ["cartId"], "\(stranger.text)")
                let wrongCustomer = try await Self.call(
                    "POST", order, "/api/v1/checkout", key: shopper, body: #"{"customerId":"cust-grace","cartId":"\#(id)","paymentCardId":"card-ada-visa",\#(Self.address)}"#)
                #expect(wrongCustomer.status == 422 && wrongCustomer.fields == ["customerId"], "\(wrongCustomer.text)")

                // Checked out by its id: the order has the cart's lines, the saga converts the cart.
                let placed = try await Self.call(
                    "POST", order, "/api/v1/checkout", key: shopper, body: body, headers: ["Prefer": "wait=30", "Idempotency-Key": "cart-checkout-1"])
                #expect(placed.status == 201, "\(placed.text)")
                #expect(placed.json()["status"] as? String == "CONFIRMED" && placed.json()["customerId"] as? String == "cust-ada", "\(placed.text)")
                #expect(Self.items(placed) == ["sku-espresso×2", "sku-mug×3"])
                #expect(placed.json()["totalCents"] as? Int == 2 * 2490 + 3 * 1250)
                let after = try await Self.call("GET", cart, "/api/v1/carts/\(id)", key: shopper)
                #expect(after.json()["status"] as? String == "CONVERTED" && after.json()["convertedBy"] as? String == placed.json()["sagaId"] as? String)
                let events = try await Self.call("GET", cart, "/api/v1/carts/\(id)/events", key: shopper).json()["events"] as? [[String: Any]] ?? []
                #expect(events.map { $0["type"] as? String ?? "" } == [
                    "CART_CREATED", "ITEM_ADDED", "ITEM_ADDED", "ITEM_ADDED", "ITEM_QUANTITY_SET", "ITEM_ADDED", "ITEM_REMOVED", "CART_CONVERTED",
                ])

                // A converted cart takes no changes; the same request again answers the same order; a new one is refused.
                #expect(try await Self.call("POST", cart, "/api/v1/carts/\(id)/items", key: shopper, body: #"{"productId":"sku-mug","quantity":1}"#).status == 409)
                let again = try await Self.call("POST", order, "/api/v1/checkout", key: shopper, body: body, headers: ["Idempotency-Key": "cart-checkout-1"])
                #expect(again.status == 202 && again.json()["orderId"] as? String == placed.json()["id"] as? String, "\(again.text)")
                let twice = try await Self.call("POST", order, "/api/v1/checkout", key: shopper, body: body)
                #expect(twice.status == 422 && twice.fields == ["cartId"] && twice.text.contains("CONVERTED"), "\(twice.text)")
                let orders = try await system.pool("order").query("SELECT count(*) AS n FROM orders")
                #expect(try orders.first?.int("n") == 1)
            }
        }

        @Test(.timeLimit(.minutes(2)))
        func whileTheCartServiceCannotBeReachedACheckoutByCartAnswers503AndWritesNothing() async throws {
            try await TestSystem.with { system in
                let port = TestPorts.next()
                let service = try system.launch(
                    ["order-service", "--port", String(port), "--sagas", TestSystem.repositoryRoot.appendingPathComponent("sagas").path,
                     "--set", "checkout.cartServiceUrl=http://127.0.0.1:9"], as: "order")
                defer { if service.isRunning { service.terminate() } }
                #expect(await TestSystem.becomesReady(port: port))
                let reply = try await Self.call(
                    "POST", port, "/api/v1/checkout", key: system.adminKey, body: #"{"cartId":"cart-ada-1","paymentCardId":"card-ada-visa",\#(Self.address)}"#)
                #expect(reply.status == 503 && reply.headers["retry-after"] == "5" && reply.text.contains("checkout.cartServiceUrl"), "\(reply.text)")
                #expect(try await system.pool("order").query("SELECT 1 FROM orders").isEmpty)
                await service.stop()
            }
        }
    }
}

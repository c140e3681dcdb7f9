import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Messaging
import Provisioning
import SagaInvariants
import Testing
import TestSupport

extension WorkerAPI {
    /// The catalog's REST API as it ships: the catalog worker's own port, its own database, and every
    /// credential checked by asking the order service. Products are made, changed, listed and paged;
    /// stock is adjusted and counted, and its history shows those changes beside a saga's reservation.
    @Suite struct CatalogAPITests {
        static func call(
            _ method: String, _ port: Int, _ path: String, key: String?, body: String? = nil, contentType: String = "application/json"
        ) async throws -> WorkerAPI.Reply {
            try await WorkerAPI.call(method, port, path, key: key, body: body, contentType: contentType)
        }

        static func withCatalog(_ body: (TestSystem, _ catalog: Int, _ order: Int) async throws -> Void) async throws {
            try await WorkerAPI.withSystem(serving: "catalog", body)
        }

        @Test(.timeLimit(.minutes(3)))
        func productsAreMadeChangedListedAndPagedWithTheirCredentials() async throws {
            try await Self.withCatalog { system, catalog, _ in
                let admin = system.adminKey
                let shopper = try await system.apiKey([.checkout])

                // Any valid credential reads; none, or a made-up one, gets the order service's one 401.
                let anonymous = try await Self.call("GET", catalog, "/api/v1/products", key: nil)
                let madeUp = try await Self.call("GET", catalog, "/api/v1/products", key: "osk_000000000000_" + String(repeating: "0", count: 64))
                #expect(anonymous.status == 401 && madeUp.status == 401)
                #expect(anonymous.headers["www-authenticate"] == #"Bearer realm="ordersaga""#)
                #expect(anonymous.headers["content-type"] == "application/problem+json")
                #expect(try await Self.call("GET", catalog, "/api/v1/products/sku-mug", key: shopper).json()["priceCents"] as? Int == 1250)

                // Only admin writes.
                let product = #"{"id":"sku-teapot","name":"Cast-iron teapot","priceCents":3900,"stock":12}"#
                let forbidden = try await Self.call("POST", catalog, "/api/v1/products", key: shopper, body: product)
                #expect(forbidden.status == 403, "\(forbidden.text)")
                #expect(try await Self.call("GET", catalog, "/api/v1/products/sku-teapot", key: admin).status == 404)

                let created = try await Self.call("POST", catalog, "/api/v1/products", key: admin, body: product)
                #expect(created.status == 201, "\(created.text)")
                #expect(created.headers["location"] == "/api/v1/products/sku-teapot")
                #expect(created.json()["stock"] as? Int == 12 && created.json()["name"] as? String == "Cast-iron teapot")
                let again = try await Self.call("POST", catalog, "/api/v1/products", key: admin, body: product)
                #expect(again.status == 409 && again.fields == ["id"], "\(again.text)")

                // Bad input names each field and changes nothing.
                let bad = try await Self.call(
                    "POST", catalog, "/api/v1/products", key: admin, body: #"{"id":"has space","name":" ","priceCents":-1,"stock":1.5,"colour":"red"}"#)
                #expect(bad.status == 422)
                #expect(Set(bad.fields) == ["id", "name", "priceCents", "stock", "colour"], "\(bad.text)")
                #expect(try await Self.call("POST", catalog, "/api/v1/products", key: admin, body: product, contentType: "text/plain").status == 415)
                #expect(try await Self.call("POST", catalog, "/api/v1/products", key: admin, body: "{").status == 400)

                // Rename and reprice; a change needs something to change.
                let repriced = try await Self.call("PATCH", catalog, "/api/v1/products/sku-teapot", key: admin, body: #"{"priceCents":4200}"#)
                #expect(repriced.status == 200 && repriced.json()["priceCents"] as? Int == 4200 && repriced.json()["name"] as? String == "Cast-iron teapot")
                let empty = try await Self.call("PATCH", catalog, "/api/v1/products/sku-teapot", key: admin, body: "{}")
                #expect(empty.status == 422, "\(empty.text)")
                #expect(try await Self.call("PATCH", catalog, "/api/v1/products/sku-none", key: admin, body: #"{"name":"x"}"#).status == 404)

                // Pages of two, by id, through the cursor: every product once.
                var ids: [String] = []
                var cursor: String?
                repeat {
                    let page = try await Self.call("GET", catalog, "/api/v1/products?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), key: shopper)
                    #expect(page.status == 200)
                    let products = page.json()["products"] as? [[String: Any]] ?? []
                    #expect(products.count <= 2)
                    ids += products.compactMap { $0["id"] as? String }
                    cursor = page.json()["nextCursor"] as? String
                } while cursor != nil && ids.count < 20
                #expect(ids == ["sku-espresso", "sku-grinder", "sku-kettle", "sku-mug", "sku-teapot"])
                let badLimit = try await Self.call("GET", catalog, "/api/v1/products?limit=0&cursor=a%20b", key: shopper)
                #expect(badLimit.status == 422 && Set(badLimit.fields) == ["limit", "cursor"], "\(badLimit.text)")

                // A method the path does not take, and a path there is not, as problems.
                let method = try await Self.call("DELETE", catalog, "/api/v1/products/sku-teapot", key: admin)
                #expect(method.status == 405 && method.headers["allow"] == "GET, PATCH", "\(method.headers)")
                #expect(try await Self.call("GET", catalog, "/api/v1/coupons", key: admin).status == 404)
            }
        }

        @Test(.timeLimit(.minutes(3)))
        func stockIsAdjustedAndCountedAndItsHistoryShowsTheSagasBesideIt() async throws {
            try await Self.withCatalog { system, catalog, order in
                let admin = system.adminKey
                let before = try await SagaInvariants.stock(in: system.databases)

                // A delivery, breakage that would go below 0 (refused, nothing changed), a stock count.
                let delivery = try await Self.call(
                    "POST", catalog, "/api/v1/products/sku-kettle/stock/adjustments", key: admin, body: #"{"delta":10,"reason":"delivery 4711"}"#)
                #expect(delivery.status == 201, "\(delivery.text)")
                #expect(delivery.json()["stockAfter"] as? Int == 15 && delivery.json()["actor"] as? String == "key:" + admin.split(separator: "_")[1])
                let tooMany = try await Self.call(
                    "POST", catalog, "/api/v1/products/sku-kettle/stock/adjustments", key: admin, body: #"{"delta":-16,"reason":"breakage"}"#)
                #expect(tooMany.status == 409 && tooMany.fields == ["delta"], "\(tooMany.text)")
                let zero = try await Self.call("POST", catalog, "/api/v1/products/sku-kettle/stock/adjustments", key: admin, body: #"{"delta":0}"#)
                #expect(zero.status == 422 && Set(zero.fields) == ["delta", "reason"], "\(zero.text)")
                let counted = try await Self.call("PUT", catalog, "/api/v1/products/sku-kettle/stock", key: admin, body: #"{"stock":14,"reason":"count"}"#)
                #expect(counted.status == 200 && counted.json()["stock"] as? Int == 14, "\(counted.text)")
                let shopper = try await system.apiKey([.checkout])
                #expect(try await Self.call("GET", catalog, "/api/v1/products/sku-kettle/stock/history", key: shopper).status == 403)

                // A checkout takes 3 kettles through the saga.
                let checkout = #"""
                    {"customerId":"cust-ada","cartId":"cart-ada-1","items":[{"productId":"sku-kettle","quantity":3}],"paymentCardId":"card-ada-visa",
                     "shippingAddress":{"line1":"12 St James's Square","city":"London","postalCode":"SW1Y 4JH","country":"GB"}}
                    """#
                let placed = try await Self.call("POST", order, "/api/v1/checkout", key: admin, body: checkout)
                #expect(placed.status == 202, "\(placed.text)")
                let sagaID = placed.json()["sagaId"] as? String ?? ""
                #expect(await eventually(timeout: .seconds(60), interval: .milliseconds(100)) {
                    (try? await Self.call("GET", order, "/api/v1/sagas/\(sagaID)", key: admin).json()["status"] as? String) == "COMPLETED"
                })
                #expect(try await Self.call("GET", catalog, "/api/v1/products/sku-kettle", key: admin).json()["stock"] as? Int == 11)

                // The history, newest first, one change a page: the reservation, the count, the delivery.
                var changes: [[String: Any]] = []
                var cursor: String?
                repeat {
                    let page = try await Self.call(
                        "GET", catalog, "/api/v1/products/sku-kettle/stock/history?limit=1" + (cursor.map { "&cursor=\($0)" } ?? ""), key: admin)
                    #expect(page.status == 200, "\(page.text)")
                    changes += page.json()["changes"] as? [[String: Any]] ?? []
                    cursor = page.json()["nextCursor"] as? String
                } while cursor != nil && changes.count < 10
                #expect(changes.map { $0["kind"] as? String ?? "" } == ["reservation", "adjustment", "adjustment"])
                #expect(changes.map { $0["delta"] as? Int ?? 0 } == [-3, -1, 10])
                #expect(changes.first?["sagaId"] as? String == sagaID)
                #expect(changes.map { $0["reason"] as? String } == [nil, "count", "delivery 4711"])
                let badCursor = try await Self.call("GET", catalog, "/api/v1/products/sku-kettle/stock/history?cursor=nonsense", key: admin)
                #expect(badCursor.status == 422 && badCursor.fields == ["cursor"], "\(badCursor.text)")

                // The invariants hold across the changes made by hand: stock net of them moved by the saga alone.
                #expect(try await SagaInvariants.violations(in: system.databases, initialStock: before) == [])
                #expect(try await SagaInvariants.stock(in: system.databases)["sku-kettle"] == before["sku-kettle"]! - 3)
            }
        }

        @Test(.timeLimit(.minutes(2)))
        func whileTheOrderServiceCannotBeAskedTheCatalogAnswers503AndChangesNothing() async throws {
            try await TestSystem.with { system in
                let catalog = TestPorts.next()
                let worker = try system.launch(
                    ["worker", "catalog", "--set", "worker.httpPort=\(catalog)", "--set", "worker.orderServiceUrl=http://127.0.0.1:9"], as: "catalog")
                defer { if worker.isRunning { worker.terminate() } }
                #expect(await TestSystem.becomesReady(port: catalog))
                let reply = try await Self.call(
                    "POST", catalog, "/api/v1/products", key: system.adminKey, body: #"{"id":"sku-x","name":"X","priceCents":1}"#)
                #expect(reply.status == 503 && reply.headers["retry-after"] == "5", "\(reply.text)")
                #expect(reply.text.contains("worker.orderServiceUrl"))
                #expect(try await system.pool("catalog").query("SELECT 1 FROM products WHERE id = 'sku-x'").isEmpty)
                await worker.stop()
            }
        }
    }
}

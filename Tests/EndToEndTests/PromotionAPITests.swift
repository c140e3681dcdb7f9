import Foundation
import Testing
import TestSupport

extension WorkerAPI {
    /// The promotion service's REST API as it ships, with the order service's credentials: coupons of
    /// both kinds are made, read and changed, and the rules they carry (a fixed amount, a start date,
    /// a limit per customer) hold at checkout, through real sagas.
    @Suite struct PromotionAPITests {
        static func call(_ method: String, _ port: Int, _ path: String, key: String?, body: String? = nil) async throws -> WorkerAPI.Reply {
            try await WorkerAPI.call(method, port, path, key: key, body: body)
        }

        @Test(.timeLimit(.minutes(3)))
        func couponsAreMadeAndTheirRulesHoldAtCheckout() async throws {
            try await WorkerAPI.withSystem(serving: "promotion") { system, promotion, order in
                let admin = system.adminKey
                let shopper = try await system.apiKey([.checkout])
                let before = try await Invariants.stock(in: system)

                let fixed = try await Self.call(
                    "POST", promotion, "/api/v1/coupons", key: admin,
                    body: #"{"code":"FIVEOFF","amountOffCents":500,"maxRedemptions":10,"maxPerCustomer":1,"expiresAt":"2099-01-01T00:00:00Z"}"#)
                #expect(fixed.status == 201 && fixed.headers["location"] == "/api/v1/coupons/FIVEOFF", "\(fixed.text)")
                #expect(fixed.json()["amountOffCents"] as? Int == 500 && fixed.json()["percentOff"] == nil && fixed.json()["redeemedCount"] as? Int == 0)
                let later = try await Self.call(
                    "POST", promotion, "/api/v1/coupons", key: admin,
                    body: #"{"code":"SOON","percentOff":15,"maxRedemptions":10,"startsAt":"2098-01-01T00:00:00Z","expiresAt":"2099-01-01T00:00:00Z"}"#)
                #expect(later.status == 201 && later.json()["startsAt"] as? String == "2098-01-01T00:00:00.000000Z", "\(later.text)")

                // Bad input names each field; a taken code is 409; only admin makes coupons, anyone reads one.
                let bad = try await Self.call(
                    "POST", promotion, "/api/v1/coupons", key: admin,
                    body: #"{"code":"no spaces","percentOff":5,"amountOffCents":5,"maxRedemptions":-1,"startsAt":"2030-01-01T00:00:00Z","expiresAt":"2029-01-01T00:00:00Z","colour":1}"#)
                #expect(bad.status == 422 && Set(bad.fields) == ["code", "percentOff", "maxRedemptions", "expiresAt", "colour"], "\(bad.text)")
                #expect(try await Self.call("POST", promotion, "/api/v1/coupons", key: admin,
                                            body: #"{"code":"FIVEOFF","percentOff":5,"maxRedemptions":1,"expiresAt":"2099-01-01T00:00:00Z"}"#).fields == ["code"])
                #expect(try await Self.call("POST", promotion, "/api/v1/coupons", key: shopper,
                                            body: #"{"code":"MINE","percentOff":90,"maxRedemptions":1,"expiresAt":"2099-01-01T00:00:00Z"}"#).status == 403)
                #expect(try await Self.call("GET", promotion, "/api/v1/coupons/FIVEOFF", key: shopper).status == 200)
                #expect(try await Self.call("GET", promotion, "/api/v1/coupons", key: shopper).status == 403)
                let codes = (try await Self.call("GET", promotion, "/api/v1/coupons?limit=50", key: admin).json()["coupons"] as? [[String: Any]] ?? [])
                    .compactMap { $0["code"] as? String }
                #expect(codes == ["BIG20", "EXPIRED5", "FIVEOFF", "ONCE50", "SOON", "WELCOME10"])

                // At checkout: 5.00 off once for Ada; a second time she is refused; a coupon not yet valid is refused.
                func place(_ coupon: String, cart: String) async throws -> [String: Any] {
                    let body = #"{"customerId":"cust-ada","cartId":"\#(cart)","items":[{"productId":"sku-mug","quantity":2}],"couponCode":"\#(coupon)","paymentCardId":"card-ada-visa","shippingAddress":{"line1":"1","city":"L","postalCode":"N1","country":"GB"}}"#
                    let placed = try await WorkerAPI.call("POST", order, "/api/v1/checkout", key: admin, body: body, headers: ["Prefer": "wait=30"])
                    #expect(placed.status == 201, "\(placed.text)")
                    return placed.json()
                }
                let first = try await place("FIVEOFF", cart: "cart-ada-1")
                #expect(first["status"] as? String == "CONFIRMED" && first["discountCents"] as? Int == 500 && first["totalCents"] as? Int == 2 * 1250 - 500, "\(first)")
                let second = try await place("FIVEOFF", cart: "cart-ada-2")
                #expect(second["status"] as? String == "CANCELLED" && (second["reason"] as? String ?? "").contains("coupon_customer_limit"), "\(second)")
                let early = try await place("SOON", cart: "cart-ada-3")
                #expect(early["status"] as? String == "CANCELLED" && (early["reason"] as? String ?? "").contains("coupon_not_started"), "\(early)")

                let redemptions = try await Self.call("GET", promotion, "/api/v1/coupons/FIVEOFF/redemptions", key: admin).json()["redemptions"] as? [[String: Any]]
                #expect(redemptions?.map { $0["status"] as? String } == ["REDEEMED"] && redemptions?.first?["customerId"] as? String == "cust-ada")
                #expect(try await Self.call("GET", promotion, "/api/v1/coupons/FIVEOFF", key: admin).json()["redeemedCount"] as? Int == 1)

                // Changing it: never below what it has; an earlier expiry.
                let below = try await Self.call("PATCH", promotion, "/api/v1/coupons/FIVEOFF", key: admin, body: #"{"maxRedemptions":0}"#)
                #expect(below.status == 409 && below.fields == ["maxRedemptions"], "\(below.text)")
                let moved = try await Self.call("PATCH", promotion, "/api/v1/coupons/FIVEOFF", key: admin, body: #"{"expiresAt":"2030-06-30T12:00:00Z","maxRedemptions":2}"#)
                #expect(moved.status == 200 && moved.json()["expiresAt"] as? String == "2030-06-30T12:00:00.000000Z" && moved.json()["maxRedemptions"] as? Int == 2, "\(moved.text)")
                #expect(try await Invariants.violations(in: system, initialStock: before) == [])
            }
        }
    }
}

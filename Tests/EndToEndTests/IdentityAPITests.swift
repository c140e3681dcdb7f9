import Foundation
import Testing
import TestSupport

extension WorkerAPI {
    /// The identity service's REST API as it ships, with the order service's credentials: customers,
    /// their addresses and cards (the number checked and never kept), and the charges the saga made.
    /// A removed card and a deactivated customer are refused at payment, through a real checkout.
    @Suite struct IdentityAPITests {
        static func call(_ method: String, _ port: Int, _ path: String, key: String?, body: String? = nil) async throws -> WorkerAPI.Reply {
            try await WorkerAPI.call(method, port, path, key: key, body: body)
        }

        static func checkout(customer: String, card: String) -> String {
            #"""
            {"customerId":"\#(customer)","cartId":"cart-\#(customer)","items":[{"productId":"sku-mug","quantity":1}],"paymentCardId":"\#(card)",
             "shippingAddress":{"line1":"1 Infinite Loop","city":"Cupertino","postalCode":"95014","country":"US"}}
            """#
        }

        /// Places a checkout and waits for its saga to end; returns the saga.
        static func place(_ body: String, order: Int, key: String) async throws -> [String: Any] {
            let placed = try await WorkerAPI.call("POST", order, "/api/v1/checkout", key: key, body: body)
            #expect(placed.status == 202, "\(placed.text)")
            let saga = placed.json()["sagaId"] as? String ?? ""
            var last: [String: Any] = [:]
            _ = await eventually(timeout: .seconds(60), interval: .milliseconds(100)) {
                last = (try? await WorkerAPI.call("GET", order, "/api/v1/sagas/\(saga)", key: key).json()) ?? [:]
                return ["COMPLETED", "COMPENSATED", "FAILED"].contains(last["status"] as? String ?? "")
            }
            return last
        }

        @Test(.timeLimit(.minutes(3)))
        func customersGetAddressesAndCardsAndTheirChargesShow() async throws {
            try await WorkerAPI.withSystem(serving: "identity") { system, identity, order in
                let admin = system.adminKey
                let shopper = try await system.apiKey([.checkout])
                #expect(try await Self.call("GET", identity, "/api/v1/customers", key: nil).status == 401)
                #expect(try await Self.call("GET", identity, "/api/v1/customers", key: shopper).status == 403)  // personal data: admin only

                let created = try await Self.call("POST", identity, "/api/v1/customers", key: admin, body: #"{"id":"cust-kay","name":"Kay Kelly","email":"kay@example.com"}"#)
                #expect(created.status == 201 && created.headers["location"] == "/api/v1/customers/cust-kay", "\(created.text)")
                #expect(created.json()["active"] as? Bool == true)
                #expect(try await Self.call("POST", identity, "/api/v1/customers", key: admin, body: #"{"id":"cust-kay","name":"K","email":"k@example.com"}"#).fields == ["id"])
                let generated = try await Self.call("POST", identity, "/api/v1/customers", key: admin, body: #"{"name":"No Id","email":"no.id@example.com"}"#)
                #expect(generated.status == 201 && (generated.json()["id"] as? String ?? "").hasPrefix("cust-"), "\(generated.text)")
                let kay = try await Self.call("GET", identity, "/api/v1/customers/cust-kay", key: admin)
                #expect(kay.status == 200 && kay.json()["email"] as? String == "kay@example.com" && kay.json()["active"] as? Bool == true)
                #expect(try await Self.call("GET", identity, "/api/v1/customers/cust-nobody", key: admin).status == 404)
                // Pages of two, by id: the three seeded customers, Kay and the one with a made id.
                var ids: [String] = []
                var cursor: String?
                repeat {
                    let page = try await Self.call("GET", identity, "/api/v1/customers?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), key: admin)
                    ids += (page.json()["customers"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                    cursor = page.json()["nextCursor"] as? String
                } while cursor != nil && ids.count < 20
                #expect(ids.count == 5 && ids == ids.sorted() && ids.contains("cust-kay") && ids.contains("cust-ada"), "\(ids)")
                let bad = try await Self.call("POST", identity, "/api/v1/customers", key: admin, body: #"{"id":null,"name":"","email":"not-an-email","vip":true}"#)
                #expect(bad.status == 422 && Set(bad.fields) == ["id", "name", "email", "vip"], "\(bad.text)")

                let address = try await Self.call(
                    "POST", identity, "/api/v1/customers/cust-kay/addresses", key: admin,
                    body: #"{"id":"addr-kay","line1":"1 Infinite Loop","city":"Cupertino","postalCode":"95014","country":"US"}"#)
                #expect(address.status == 201, "\(address.text)")
                let badAddress = try await Self.call(
                    "POST", identity, "/api/v1/customers/cust-kay/addresses", key: admin, body: #"{"line1":"x","city":"y","postalCode":"z","country":"usa"}"#)
                #expect(badAddress.status == 422 && badAddress.fields == ["country"], "\(badAddress.text)")
                let addresses = try await Self.call("GET", identity, "/api/v1/customers/cust-kay/addresses", key: admin).json()["addresses"] as? [[String: Any]]
                #expect(addresses?.map { $0["id"] as? String } == ["addr-kay"])

                // The number is checked (Luhn) and never kept: only brand and last four come back.
                let card = try await Self.call(
                    "POST", identity, "/api/v1/customers/cust-kay/cards", key: admin,
                    body: #"{"id":"card-kay","number":"4111 1111 1111 1111","expires":"2031-12","limitCents":100000}"#)
                #expect(card.status == 201, "\(card.text)")
                #expect(card.json()["brand"] as? String == "visa" && card.json()["masked"] as? String == "•••• 1111" && card.json()["expires"] as? String == "2031-12")
                #expect(!card.text.contains("4111111111111111") && !card.text.contains("4111 1111"))
                let stored = try await system.pool("identity").query("SELECT row_to_json(c)::text AS row FROM payment_cards c WHERE id = 'card-kay'")
                #expect(try stored.first?.string("row").contains("41111111") == false)
                let badCard = try await Self.call(
                    "POST", identity, "/api/v1/customers/cust-kay/cards", key: admin, body: #"{"number":"4111 1111 1111 1112","expires":"2020-01","limitCents":-5}"#)
                #expect(badCard.status == 422 && Set(badCard.fields) == ["number", "expires", "limitCents"], "\(badCard.text)")
                #expect(try await Self.call("POST", identity, "/api/v1/customers/cust-nobody/cards", key: admin,
                                            body: #"{"number":"4111111111111111","expires":"2031-12","limitCents":1}"#).status == 404)

                // The card pays for a checkout, and the charge shows.
                let saga = try await Self.place(Self.checkout(customer: "cust-kay", card: "card-kay"), order: order, key: admin)
                // No cart-cust-kay exists, so the saga compensates at cart-convert: a capture, then a refund.
                #expect(saga["status"] as? String == "COMPENSATED", "\(saga)")
                let charges = try await Self.call("GET", identity, "/api/v1/customers/cust-kay/charges", key: admin).json()["charges"] as? [[String: Any]]
                #expect(charges?.count == 1 && charges?.first?["status"] as? String == "REFUNDED" && charges?.first?["amountCents"] as? Int == 1250, "\(String(describing: charges))")
                #expect(charges?.first?["sagaId"] as? String == saga["id"] as? String)
            }
        }

        @Test(.timeLimit(.minutes(3)))
        func aRemovedCardAndADeactivatedCustomerAreRefusedAtPayment() async throws {
            try await WorkerAPI.withSystem(serving: "identity") { system, identity, order in
                let admin = system.adminKey
                let before = try await Invariants.stock(in: system)
                // Ada's seeded card pays; removed, it is refused, though its charges stay.
                #expect(try await Self.call("DELETE", identity, "/api/v1/customers/cust-ada/cards/card-ada-visa", key: admin).status == 204)
                #expect(try await Self.call("DELETE", identity, "/api/v1/customers/cust-ada/cards/card-ada-visa", key: admin).status == 404)
                let cards = try await Self.call("GET", identity, "/api/v1/customers/cust-ada/cards", key: admin).json()["cards"] as? [[String: Any]]
                #expect(cards?.isEmpty == true)
                let refused = try await Self.place(CheckoutBodies.ada(card: "card-ada-visa"), order: order, key: admin)
                #expect(refused["status"] as? String == "COMPENSATED" && (refused["failureReason"] as? String ?? "").contains("card_unknown"), "\(refused)")

                // A new card pays; then Ada is deactivated, and it is refused too.
                let added = try await Self.call(
                    "POST", identity, "/api/v1/customers/cust-ada/cards", key: admin, body: #"{"id":"card-ada-mc","number":"5555555555554444","expires":"2030-06","limitCents":500000}"#)
                #expect(added.status == 201 && added.json()["brand"] as? String == "mastercard", "\(added.text)")
                let paid = try await Self.place(CheckoutBodies.ada(card: "card-ada-mc"), order: order, key: admin)
                #expect(paid["status"] as? String == "COMPLETED", "\(paid)")
                let deactivated = try await Self.call("POST", identity, "/api/v1/customers/cust-ada/deactivate", key: admin)
                #expect(deactivated.status == 200 && deactivated.json()["active"] as? Bool == false)
                #expect(try await Self.call("POST", identity, "/api/v1/customers/cust-ada/deactivate", key: admin).json()["active"] as? Bool == false)
                let inactive = try await Self.place(CheckoutBodies.ada(card: "card-ada-mc", cart: "cart-ada-2"), order: order, key: admin)
                #expect(inactive["status"] as? String == "COMPENSATED" && (inactive["failureReason"] as? String ?? "").contains("customer_inactive"), "\(inactive)")
                let another = try await Self.call(
                    "POST", identity, "/api/v1/customers/cust-ada/cards", key: admin, body: #"{"number":"4242424242424242","expires":"2031-01","limitCents":1}"#)
                #expect(another.status == 409, "\(another.text)")
                #expect(try await Invariants.violations(in: system, initialStock: before) == [])
            }
        }
    }
}

/// Checkout bodies for the seeded customer Ada.
enum CheckoutBodies {
    static func ada(card: String, cart: String = "cart-ada-1") -> String {
        #"""
        {"customerId":"cust-ada","cartId":"\#(cart)","items":[{"productId":"sku-espresso","quantity":1}],"paymentCardId":"\#(card)",
         "shippingAddress":{"line1":"12 St James's Square","city":"London","postalCode":"SW1Y 4JH","country":"GB"}}
        """#
    }
}

import Foundation
import Messaging
import Postgres
import Testing
import TestSupport
import CheckoutContracts
import NotificationWorker
import Workers

/// Each participant's business rules, run in a real transaction on its seeded database: what it
/// refuses (a failed reply that changes nothing), and what it does.
@Suite struct WorkerRuleTests {
    /// Runs one command through the participant's handler; returns the outcome as reason or "ok".
    static func run(_ participant: String, _ type: String, _ body: String, system: TestSystem, sagaID: String = UUID().uuidString) async throws -> String {
        let handler = Workers.handler(for: participant)!
        let command = IncomingCommand(type: type, sagaID: sagaID, step: participant, phase: .command, body: body)
        return try await system.pool(participant).transaction { transaction in
            switch try handler.handle(command, in: transaction) {
            case .succeeded: "ok"
            case .refused(let reason, _): reason
            }
        }
    }

    static let coupon = PromotionContract.redeemCoupon
    static let charge = IdentityContract.chargePayment
    static let convert = CartContract.convertCart
    static let reserve = CatalogContract.reserveInventory

    @Test func eachRuleRefusesOrAllowsAsItShould() async throws {
        try await TestSystem.with { system in
            let cases: [(String, String, String, String)] = [
                ("catalog", Self.reserve, #"{"orderId":"o","items":[{"productId":"sku-kettle","quantity":6}]}"#, "out_of_stock"),
                ("catalog", Self.reserve, #"{"orderId":"o","items":[{"productId":"sku-nope","quantity":1}]}"#, "unknown_product"),
                ("catalog", Self.reserve, #"{"orderId":"o","items":[{"productId":"sku-kettle","quantity":5}]}"#, "ok"),
                ("promotion", Self.coupon, #"{"orderId":"o","couponCode":"NOPE","subtotalCents":5000}"#, "coupon_unknown"),
                ("promotion", Self.coupon, #"{"orderId":"o","couponCode":"EXPIRED5","subtotalCents":5000}"#, "coupon_expired"),
                ("promotion", Self.coupon, #"{"orderId":"o","couponCode":"BIG20","subtotalCents":9999}"#, "coupon_minimum_not_met"),
                ("promotion", Self.coupon, #"{"orderId":"o","couponCode":"BIG20","subtotalCents":10000}"#, "ok"),
                ("promotion", Self.coupon, #"{"orderId":"o","couponCode":"ONCE50","subtotalCents":100}"#, "ok"),
                ("promotion", Self.coupon, #"{"orderId":"o","couponCode":"ONCE50","subtotalCents":100}"#, "coupon_exhausted"),
                ("identity", Self.charge, #"{"orderId":"o","customerId":"cust-ada","cardId":"card-nope","amountCents":100}"#, "card_unknown"),
                ("identity", Self.charge, #"{"orderId":"o","customerId":"cust-ada","cardId":"card-grace-low","amountCents":100}"#, "card_unknown"),
                ("identity", Self.charge, #"{"orderId":"o","customerId":"cust-alan","cardId":"card-alan-expired","amountCents":100}"#, "card_expired"),
                ("identity", Self.charge, #"{"orderId":"o","customerId":"cust-grace","cardId":"card-grace-low","amountCents":1001}"#, "card_declined"),
                ("identity", Self.charge, #"{"orderId":"o","customerId":"cust-grace","cardId":"card-grace-low","amountCents":1000}"#, "ok"),
                ("cart", Self.convert, #"{"orderId":"o","customerId":"cust-ada","cartId":"cart-nope"}"#, "cart_unknown"),
                ("cart", Self.convert, #"{"orderId":"o","customerId":"cust-ada","cartId":"cart-grace-1"}"#, "cart_not_owned"),
                ("cart", Self.convert, #"{"orderId":"o","customerId":"cust-ada","cartId":"cart-ada-1"}"#, "ok"),
                ("cart", Self.convert, #"{"orderId":"o","customerId":"cust-ada","cartId":"cart-ada-1"}"#, "cart_not_active"),
            ]
            var outcomes: [String] = []
            for (participant, type, body, _) in cases {
                outcomes.append(try await Self.run(participant, type, body, system: system))
            }
            #expect(outcomes == cases.map(\.3))
            // Refusals changed nothing; the allowed ones did exactly their effect.
            #expect(try await Invariants.stock(in: system)["sku-kettle"] == 0)
            let coupons = try await system.pool("promotion").query("SELECT code, redeemed_count FROM coupons ORDER BY code")
            #expect(try coupons.map { "\(try $0.string("code"))=\(try $0.int("redeemed_count"))" } == ["BIG20=1", "EXPIRED5=0", "ONCE50=1", "WELCOME10=0"])
            let captured = try await system.pool("identity").query("SELECT amount_cents FROM charges WHERE status = 'CAPTURED'")
            #expect(try captured.map { try $0.int("amount_cents") } == [1000])
            let events = try await system.pool("cart").query("SELECT count(*) AS n FROM cart_events WHERE type = 'CART_CONVERTED'")
            #expect(try events.first?.int("n") == 1)
        }
    }

    /// cancel_order's way: a compensation another saga sends undoes the effect of the saga its
    /// payload names, once, and records nothing for itself.
    @Test func aCompensationSentByAnotherSagaUndoesTheSagaItNames() async throws {
        try await TestSystem.with { system in
            let original = UUID().uuidString.lowercased()
            let cancel = UUID().uuidString.lowercased()
            let reserve = #"{"orderId":"o","items":[{"productId":"sku-kettle","quantity":5}]}"#
            #expect(try await Self.run("catalog", Self.reserve, reserve, system: system, sagaID: original) == "ok")
            #expect(try await Invariants.stock(in: system)["sku-kettle"] == 0)
            let release = #"{"orderId":"o","sagaId":"\#(original)"}"#
            for _ in 0..<2 {  // a retry undoes nothing twice
                #expect(try await Self.run("catalog", CatalogContract.releaseInventory, release, system: system, sagaID: cancel) == "ok")
                #expect(try await Invariants.stock(in: system)["sku-kettle"] == 5)
            }
            let rows = try await system.pool("catalog").query("SELECT saga_id, status FROM reservations ORDER BY saga_id")
            #expect(try rows.map { "\(try $0.string("saga_id")):\(try $0.string("status"))" } == ["\(original):RELEASED"])
            // The late command of the cancelled saga changes nothing.
            #expect(try await Self.run("catalog", Self.reserve, reserve, system: system, sagaID: original) == "compensated")
            #expect(try await Invariants.stock(in: system)["sku-kettle"] == 5)
        }
    }

    @Test func confirmationAfterTheOrderWasCancelledIsRefused() async throws {
        try await TestSystem.with { system in
            let cancelled = UUID().uuidString.lowercased()
            try await system.pool("notification").query(
                """
                INSERT INTO notifications (saga_id, order_id, customer_id, kind, subject, body)
                VALUES ($1, 'o-1', 'cust-ada', 'ORDER_CANCELLED', 'Your order was cancelled', 'sorry')
                """, [cancelled])
            let confirmation = #"{"orderId":"o-1","customerId":"cust-ada","totalCents":1000}"#
            let send = NotificationContract.sendConfirmation
            #expect(try await Self.run("notification", send, confirmation, system: system, sagaID: cancelled) == "cancelled")
            #expect(try await Self.run("notification", send, confirmation, system: system) == "ok")
            let confirmations = try await system.pool("notification").query(
                "SELECT saga_id FROM notifications WHERE kind = 'ORDER_CONFIRMED'")
            #expect(try confirmations.map { try $0.string("saga_id") }.contains(cancelled) == false)
            #expect(confirmations.count == 1)
        }
    }
}

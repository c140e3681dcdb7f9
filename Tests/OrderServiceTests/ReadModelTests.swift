import CheckoutContracts
import Foundation
@testable import OrderService
import Testing

/// The fold that shapes what the orders API answers: pure, event by event.
@Suite struct ReadModelTests {
    static func event(_ at: String, _ change: (inout OrderEvent) -> Void = { _ in }) -> OrderEvent {
        var event = OrderEvent(orderId: "o-1", sagaId: "s-1", customerId: "cust-ada")
        event.orderNumber = 1042
        event.at = at
        change(&event)
        return event
    }

    static let created = event("2026-11-25T10:00:00.000Z") {
        $0.owner = "key:abc"; $0.cartId = "cart-1"; $0.paymentCardId = "card-1"; $0.couponCode = "WELCOME10"
        $0.shippingAddress = ShippingAddress(line1: "1 Main St", city: "London", postalCode: "N1", country: "GB")
        $0.items = [OrderLine(productId: "sku-mug", quantity: 2)]
    }

    static func fold(_ events: [(String, OrderEvent)]) -> OrderReadModel? {
        events.reduce(nil) { view, next in OrderProjection.apply(next.0, next.1, to: view) }
    }

    @Test func aConfirmedOrderThenCancelledIsRefundedWithTheTotalsItWasChargedFor() throws {
        let priced = [OrderLine(productId: "sku-mug", quantity: 2, unitPriceCents: 1250)]
        let settled: (inout OrderEvent) -> Void = { $0.items = priced; $0.subtotalCents = 2500; $0.discountCents = 250; $0.totalCents = 2250 }
        let created = try #require(Self.fold([(OrderEvents.created, Self.created)]))
        #expect(created.status == "PENDING" && created.payment == nil && created.items == [OrderLine(productId: "sku-mug", quantity: 2)])
        #expect(created.createdAt == "2026-11-25T10:00:00.000Z" && created.number == 1042 && created.owner == "key:abc")

        let confirmed = try #require(Self.fold([
            (OrderEvents.created, Self.created),
            (OrderEvents.paymentCaptured, Self.event("2026-11-25T10:00:01.000Z") { $0.chargeId = "s-1"; $0.totalCents = 2250 }),
            (OrderEvents.confirmed, Self.event("2026-11-25T10:00:02.000Z", settled)),
        ]))
        #expect(confirmed.status == "CONFIRMED" && confirmed.payment == "CAPTURED" && confirmed.items == priced)
        #expect(confirmed.subtotalCents == 2500 && confirmed.discountCents == 250 && confirmed.totalCents == 2250)
        #expect(confirmed.updatedAt == "2026-11-25T10:00:02.000Z" && confirmed.createdAt == "2026-11-25T10:00:00.000Z")

        let cancelled = try #require(OrderProjection.apply(
            OrderEvents.cancelled, Self.event("2026-11-26T09:00:00.000Z") { settled(&$0); $0.sagaId = "s-2"; $0.reason = "changed my mind" },
            to: confirmed))
        #expect(cancelled.status == "CANCELLED" && cancelled.payment == "REFUNDED" && cancelled.reason == "changed my mind")
        #expect(cancelled.sagaId == "s-1")  // still the order's create_order saga
        #expect(cancelled.totalCents == 2250 && cancelled.updatedAt == "2026-11-26T09:00:00.000Z")
    }

    @Test func aRefusedPaymentStaysRefusedWhenTheOrderIsCompensated() throws {
        let view = try #require(Self.fold([
            (OrderEvents.created, Self.created),
            (OrderEvents.paymentRefused, Self.event("2026-11-25T10:00:01.000Z") { $0.reason = "card_declined" }),
            (OrderEvents.cancelled, Self.event("2026-11-25T10:00:02.000Z") { $0.reason = "payment failed: card_declined" }),
        ]))
        #expect(view.status == "CANCELLED" && view.payment == "REFUSED" && view.reason == "payment failed: card_declined")
        let failed = try #require(OrderProjection.apply(OrderEvents.failed, Self.event("2026-11-25T10:00:03.000Z") { $0.reason = "stuck" }, to: view))
        #expect(failed.status == "FAILED" && failed.reason == "stuck")
    }

    @Test func anImportedOrderIsAsItWasAndEventsOfNoOrderShowNothing() throws {
        let imported = try #require(OrderProjection.apply(OrderEvents.imported, Self.event("2026-11-25T11:00:00.000Z") {
            $0.owner = "key:abc"; $0.cartId = "cart-1"; $0.paymentCardId = "card-1"
            $0.shippingAddress = ShippingAddress(line1: "1 Main St", city: "London", postalCode: "N1", country: "GB")
            $0.status = "CONFIRMED"; $0.payment = "CAPTURED"; $0.totalCents = 900; $0.createdAt = "2026-11-01T08:00:00.000Z"
        }, to: nil))
        #expect(imported.status == "CONFIRMED" && imported.payment == "CAPTURED" && imported.totalCents == 900)
        #expect(imported.createdAt == "2026-11-01T08:00:00.000Z" && imported.updatedAt == "2026-11-25T11:00:00.000Z")
        #expect(OrderProjection.apply(OrderEvents.confirmed, Self.event("2026-11-25T10:00:02.000Z"), to: nil) == nil)
        // A created event missing what an order needs creates nothing.
        #expect(OrderProjection.apply(OrderEvents.created, Self.event("2026-11-25T10:00:00.000Z"), to: nil) == nil)
    }
}

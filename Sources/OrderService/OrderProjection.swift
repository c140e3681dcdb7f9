import CheckoutContracts
import Foundation
import Postgres
import SagaCore

/// An order as the orders API serves it (`order_views`): folded from the order's events alone, so
/// `ordersaga read-model rebuild` folds the same rows again from `order_events`. Its saga's live
/// status is the saga's own, read beside it.
struct OrderReadModel: Codable, Sendable, Equatable {
    var id: String
    var number: Int
    /// Who placed it (``Caller/principal``).
    var owner: String
    /// PENDING, CONFIRMED, CANCELLED or FAILED.
    var status: String
    var customerId, cartId: String
    var couponCode: String?
    var paymentCardId: String
    var shippingAddress: ShippingAddress
    var items: [OrderLine]
    var subtotalCents, discountCents, totalCents: Int?
    /// CAPTURED, REFUSED or REFUNDED, once the payment step said.
    var payment: String?
    /// Why it was cancelled or failed.
    var reason: String?
    /// Its create_order saga.
    var sagaId: String
    var createdAt, updatedAt: String
}

/// The fold: what each order event does to the order's view. Pure; both stores run it in the
/// transaction that records the event (so a read never lags a write), and the rebuild runs it over
/// the whole log.
enum OrderProjection {
    /// The view after `event` (of `type`), or `nil` for an event of an order the log never
    /// created (nothing to show).
    static func apply(_ type: String, _ event: OrderEvent, to view: OrderReadModel?) -> OrderReadModel? {
        let at = event.at ?? view?.updatedAt ?? ""
        if type == OrderEvents.created || type == OrderEvents.imported {
            guard let number = event.orderNumber, let owner = event.owner, let cartId = event.cartId,
                  let paymentCardId = event.paymentCardId, let address = event.shippingAddress
            else { return view }
            return OrderReadModel(
                id: event.orderId, number: number, owner: owner, status: event.status ?? "PENDING", customerId: event.customerId,
                cartId: cartId, couponCode: event.couponCode, paymentCardId: paymentCardId, shippingAddress: address,
                items: event.items ?? [], subtotalCents: event.subtotalCents, discountCents: event.discountCents,
                totalCents: event.totalCents, payment: event.payment, reason: event.reason, sagaId: event.sagaId,
                createdAt: event.createdAt ?? at, updatedAt: at)
        }
        guard var view else { return nil }
        view.updatedAt = at
        switch type {
        case OrderEvents.paymentCaptured:
            view.payment = "CAPTURED"
        case OrderEvents.paymentRefused:
            view.payment = "REFUSED"
        case OrderEvents.confirmed:
            view.status = "CONFIRMED"
            view.settle(event)
        case OrderEvents.cancelled:
            view.status = "CANCELLED"
            view.reason = event.reason
            view.settle(event)
            // What was captured went back: by a compensation, or by a cancel_order saga.
            if view.payment == "CAPTURED" { view.payment = "REFUNDED" }
        case OrderEvents.failed:
            view.status = "FAILED"
            view.reason = event.reason
            view.settle(event)
        default:
            break  // an event this version does not show
        }
        return view
    }
}

extension OrderReadModel {
    /// The lines and totals an event that settles the order carries.
    fileprivate mutating func settle(_ event: OrderEvent) {
        if let items = event.items { self.items = items }
        subtotalCents = event.subtotalCents ?? subtotalCents
        discountCents = event.discountCents ?? discountCents
        totalCents = event.totalCents ?? totalCents
    }
}

/// An order event as a saga's input emitted it: what the projection folds and `order_events` keeps.
struct RecordedOrderEvent: Sendable, Equatable {
    var type: String
    var event: OrderEvent
    /// The event's JSON, as published.
    var body: String
}


/// What folding the read model from its log did or found.
public struct ReadModelFold: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        /// Every view deleted and folded again (`ordersaga read-model rebuild`).
        case rebuild
        /// Only the orders the migration imported that have no view yet (the service's start).
        case missing
        /// Nothing written: each view compared with what the log folds to (`ordersaga read-model check`).
        case check
    }

    public var orders = 0
    public var events = 0
    /// `check`: the orders whose view differs from what their events fold to.
    public var differing: [String] = []
    /// `check`: the views of orders with no events at all.
    public var unfolded: [String] = []
}

/// `ordersaga read-model rebuild` and `check`: the orders API's read model against its log.
public enum OrderReadModelMaintenance {
    /// Deletes every row of `order_views` and folds them all again from `order_events`, in one
    /// transaction (the order service's writes wait meanwhile; its reads see the old rows until it
    /// commits). `progress` hears the orders and events folded so far.
    public static func rebuild(
        postgresURL: String, progress: @escaping @Sendable (_ orders: Int, _ events: Int) -> Void = { _, _ in }
    ) async throws -> ReadModelFold {
        try await PostgresSagaStore.foldReadModel(on: pool(postgresURL), .rebuild, progress: progress)
    }

    /// Folds the log in one read-only snapshot and compares each view with it; writes nothing.
    public static func check(
        postgresURL: String, progress: @escaping @Sendable (_ orders: Int, _ events: Int) -> Void = { _, _ in }
    ) async throws -> ReadModelFold {
        try await PostgresSagaStore.foldReadModel(on: pool(postgresURL), .check, progress: progress)
    }

    private static func pool(_ url: String) -> PostgresPool { PostgresPool(conninfo: url, size: 1, label: "read-model") }
}

import CheckoutContracts
import Foundation
import Messaging
import SagaCore

/// Where the order service keeps its orders and sagas. Every write runs `body` on the saga loaded
/// (and locked) in one transaction and stores what it returns in the same transaction, so a crash
/// leaves all of an input's effects or none. ``PostgresSagaStore`` holds every SQL statement of the
/// order service; ``InMemorySagaStore`` runs the same engine and API in tests without a server.
protocol SagaStore: Sendable {
    /// Claims the `Idempotency-Key` (if any, in the owner's own keys) and, when it is new, creates the order and its saga
    /// with what `create` returns (given the store's clock and the order's number); or answers what an earlier request
    /// with the same key created. A key reused with a different `request` is a conflict.
    func start(
        _ new: NewOrder, idempotencyKey: String?, request: String,
        create: @escaping @Sendable (SagaTime, Int) throws -> (LoadedSaga, SagaWrite)
    ) async throws -> StartOutcome

    /// What the owner's `Idempotency-Key` answers for `request` when it was claimed already
    /// (``IdempotencyKeys``); `nil` when it was not. For a checkout that must not do its work
    /// (read a cart) again when it is a retry.
    func claimed(idempotencyKey: String, owner: String, request: String) async throws -> StartOutcome?

    /// For each update in turn, in one transaction (group commit): records its message in the
    /// inbox and, unless it was handled before, runs its body on the saga and stores what it
    /// returns. What a body throws rolls back all of them. The caller orders them by saga id, the
    /// order the sagas are locked in.
    func update(_ updates: [SagaUpdate]) async throws -> [UpdateOutcome]

    /// Runs an operator's `body` on the saga and stores what it returns, unless the saga's version
    /// is no longer `expectedVersion` (when given): then nothing is run. What `body` throws (a
    /// refusal) leaves the saga as it was.
    func operate(
        _ id: UUID, expectedVersion: Int?, _ body: @escaping @Sendable (inout LoadedSaga) throws -> SagaWrite
    ) async throws -> OperateOutcome

    /// Starts an order's cancel_order saga with what `create` returns, given the order's
    /// create_order saga (loaded and locked), in one transaction; unless the order is not
    /// `owner`'s (`nil`: anyone's), already has one, is not CONFIRMED by a COMPLETED saga, or was
    /// confirmed more than `window` ago (by the store's clock).
    func startCancel(
        _ orderID: UUID, owner: String?, window: Duration,
        create: @escaping @Sendable (LoadedSaga) throws -> (LoadedSaga, SagaWrite)
    ) async throws -> CancelOutcome

    /// Sagas whose deadline has passed by the store's clock, soonest first.
    func dueSagas(limit: Int) async throws -> [UUID]

    /// Runs `body` on the saga if its deadline has still passed and no one else holds it, with what
    /// the outbox knows of the command its deadline waits on; `nil` when nothing was due.
    func updateIfDue(
        _ id: UUID, _ body: @escaping @Sendable (inout LoadedSaga, CommandDispatch) throws -> SagaWrite
    ) async throws -> SagaWrite?

    // MARK: Reads

    /// The order, if it exists and `owner` placed it (`nil`: whoever did).
    func order(_ lookup: OrderLookup, owner: String?) async throws -> OrderView?
    /// One page of the orders `query` asks for, and the cursor of the next if there is one.
    func orders(_ query: OrderQuery) async throws -> OrderListView
    func saga(_ id: UUID) async throws -> SagaView?
    /// One page of the sagas `query` asks for, and the cursor of the next if there is one.
    func sagas(_ query: SagaQuery) async throws -> SagaListView
    /// The sagas created in the last `window`: by status, in flight by what they wait on, and the
    /// durations of those that ended. `label` is the window as asked, for the view.
    func stats(window: Duration, label: String) async throws -> SagaStatsView
    /// Sagas RUNNING, COMPENSATING and FAILED now, and the unpublished outbox rows.
    /// `oldestIdleSeconds`: how long the in-flight saga changed longest ago has not changed
    /// (0 with none in flight), what an alert on stuck sagas watches.
    func gauges() async throws -> (sagas: [SagaStatus: Int], outboxBacklog: Int, oldestIdleSeconds: Double)
    /// Sagas RUNNING or COMPENSATING now (admission control).
    func sagasInFlight() async throws -> Int
    /// Whether the store answers.
    func isAvailable() async -> Bool
}

/// The order a checkout creates, before its saga starts.
struct NewOrder: Sendable {
    var orderID: UUID
    var sagaID: UUID
    var checkout: SagaEngine.Checkout
    /// Who placed it (``Caller/principal``): its Idempotency-Keys are its own, and a checkout
    /// credential reads only its own orders.
    var owner: String
}

enum StartOutcome: Sendable, Equatable {
    /// The order was created with this number; `messages` were written to the outbox with it.
    case created(number: Int, messages: [OutboxMessage])
    /// An earlier request with the same key created these.
    case replayed(orderID: UUID, sagaID: UUID, number: Int)
    /// The key was used with a different checkout.
    case conflict
}

/// What asking to cancel a confirmed order did.
enum CancelOutcome: Sendable, Equatable {
    case unknownOrder
    /// Its cancel_order saga was started; `messages` were written to the outbox with it.
    case started(sagaID: UUID, messages: [OutboxMessage])
    /// It already has one (started by an earlier request): nothing new was started.
    case existing(sagaID: UUID)
    /// Its create_order saga has not COMPLETED, or the order is not CONFIRMED.
    case notConfirmed
    /// It was confirmed at this time (ISO 8601), longer ago than the window.
    case windowPassed(confirmedAt: String)
}

enum OperateOutcome: Sendable, Equatable {
    case unknownSaga
    /// Someone else changed the saga since the operator saw it: it is at this version now.
    case changed(currentVersion: Int)
    case applied(SagaWrite)
}

/// A message for a saga: its inbox id and type, and what it does to the saga.
struct SagaUpdate: Sendable {
    let sagaID: UUID
    let messageID: String
    let messageType: String
    let body: @Sendable (inout LoadedSaga) throws -> SagaWrite
}

enum UpdateOutcome: Sendable, Equatable {
    case unknownSaga
    /// The message was handled before: nothing was run.
    case duplicate
    case applied(SagaWrite)
}

/// A saga as the runner works on it, loaded (and locked) by a store.
struct LoadedSaga: Sendable {
    let id: UUID
    var machine: SagaStateMachine
    var data: CreateOrderData
    let traceparent: String
    /// Raised by every write: what an operator's `If-Match` compares.
    let version: Int
    /// The store's clock, read in the same transaction.
    let now: SagaTime
    /// When the saga was created, by the same clock.
    let startedAt: SagaTime

    var idText: String { id.uuidString.lowercased() }
    /// Whether it is a cancel_order saga, undoing a confirmed order.
    var cancelsOrder: Bool { machine.definition.name == CreateOrderSaga.cancelName }
}

/// Everything one input changes, for the store to write in the transaction that loaded the saga.
struct SagaWrite: Sendable, Equatable {
    var state: SagaState
    var data: CreateOrderData
    /// `nil`: the deadline stays as it was; `.some(nil)`: the saga waits for none.
    var deadline: SagaTime??
    var history: [SagaHistoryEntry]
    var messages: [OutboxMessage]
    /// The order events among ``messages``, for the order's log and its read model.
    var orderEvents: [RecordedOrderEvent] = []
    /// The order's final status, when the input ended the saga.
    var orderStatus: String?
    /// The saga's final status, when the input ended it.
    var finished: SagaStatus?
    /// From its creation to the input that ended it, when one did.
    var ranFor: Duration?
    /// The steps whose command or compensation this input ended (a metric and a span each).
    var ended: [StepEnd] = []
    /// The saga's own trace context, made when it began: the parent of its steps' spans.
    var traceparent: String = ""
    /// The saga's definition's name (its metrics' `type`).
    var type: String = CreateOrderSaga.name

}

extension SagaWrite {
    /// Whether it changes the state or data `saga` was loaded with (its version goes up).
    func changes(_ saga: LoadedSaga) -> Bool {
        state != saga.machine.state || data != saga.data
    }
}

/// The same Idempotency-Key came with a different request.
struct IdempotencyConflict: Error {}

/// `GET /api/v1/orders/{id}`: the order (from its read model) with the catalog's prices and its saga's status.
struct OrderView: Codable, Sendable, Equatable {
    var id: String
    /// Human-readable, from 1001 up: what a customer reads out on the phone.
    var number: Int
    var status, customerId, cartId: String
    var couponCode: String?
    var paymentCardId: String
    var shippingAddress: CreateOrderData.Address
    var items: [CreateOrderData.Item]
    var subtotalCents, discountCents, totalCents: Int?
    /// CAPTURED, REFUSED or REFUNDED, once the payment step said.
    var payment: String?
    /// Why it was cancelled or failed.
    var reason: String?
    /// Its create_order saga.
    var sagaId, sagaStatus, createdAt, updatedAt: String
    /// The cancel_order saga undoing it, once a confirmed order was asked to be cancelled.
    var cancellation: Cancellation?

    struct Cancellation: Codable, Sendable, Equatable {
        var sagaId, sagaStatus, reason: String
    }
}

extension OrderView {
    /// The order as its read model has it, with its sagas' live status.
    init(_ view: OrderReadModel, sagaStatus: String, cancellation: Cancellation?) {
        self.init(
            id: view.id, number: view.number, status: view.status, customerId: view.customerId, cartId: view.cartId,
            couponCode: view.couponCode, paymentCardId: view.paymentCardId, shippingAddress: view.shippingAddress, items: view.items,
            subtotalCents: view.subtotalCents, discountCents: view.discountCents, totalCents: view.totalCents, payment: view.payment,
            reason: view.reason, sagaId: view.sagaId, sagaStatus: sagaStatus, createdAt: view.createdAt, updatedAt: view.updatedAt,
            cancellation: cancellation)
    }
}

/// `GET /api/v1/orders`: a page of orders, newest first.
struct OrderListView: Codable, Sendable, Equatable {
    var orders: [OrderView]
    /// The `cursor` of the next page; `nil` on the last.
    var nextCursor: String?
}

/// Which order: by its id or its number.
enum OrderLookup: Sendable, Equatable {
    case id(UUID)
    case number(Int)
}

/// What `GET /api/v1/orders` asks for: newest first, each filter narrowing it.
struct OrderQuery: Sendable, Equatable {
    /// Only the orders this credential placed (`nil`: everyone's, for an admin).
    var owner: String?
    var customer: String?
    var status: String?
    /// Created at or after, in microseconds since 1970.
    var createdFrom: Int64?
    /// Created before, in microseconds since 1970.
    var createdBefore: Int64?
    var limit = 20
    var after: ListCursor?
}

/// What `GET /api/v1/sagas` asks for: newest first; with `idleFor`, only RUNNING and COMPENSATING
/// sagas unchanged for that long, longest idle first (`status`, if given, is one of those two).
struct SagaQuery: Sendable, Equatable {
    var status: SagaStatus?
    /// The definition's name.
    var type: String?
    /// The step a RUNNING or COMPENSATING saga waits on.
    var step: String?
    /// Created at least this long ago.
    var olderThan: Duration?
    var idleFor: Duration?
    var limit = 20
    /// After the last saga of the page that gave this cursor.
    var after: ListCursor?

    var order: ListCursor.Order { idleFor == nil ? .newest : .idle }
}

/// Where a page of a list ended: the sort key of its last row (a saga's creation, or its last
/// change for the idle list, or an order's creation, in microseconds since 1970, and its id).
/// Clients get it as opaque base64url; a cursor of one list is refused by another.
struct ListCursor: Sendable, Equatable {
    enum Order: String, Sendable { case newest = "n", idle = "i", orders = "o" }
    var order: Order
    var microseconds: Int64
    var id: UUID

    var text: String {
        Data("\(order.rawValue):\(microseconds):\(id.uuidString.lowercased())".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    init(order: Order, microseconds: Int64, id: UUID) {
        self.order = order
        self.microseconds = microseconds
        self.id = id
    }

    /// A cursor this API gave, or `nil`.
    init?(_ text: String) {
        guard text.count <= 200, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return nil }
        let parts = String(decoding: data, as: UTF8.self).split(separator: ":")
        guard parts.count == 3, let order = Order(rawValue: String(parts[0])), let microseconds = Int64(parts[1]), microseconds >= 0,
              let id = UUID(uuidString: String(parts[2]))
        else { return nil }
        self.init(order: order, microseconds: microseconds, id: id)
    }
}

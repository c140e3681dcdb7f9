import CheckoutContracts
import Foundation
import Messaging
import SagaCore
import Synchronization

/// The order service's ``SagaStore`` in memory: the same engine and REST API with no server, for
/// fast tests. One lock stands in for the row locks and makes every write a transaction (a `body`
/// that throws leaves nothing behind); the clock is the caller's, so a test can move time on.
/// The outbox is a list a test reads and marks published, as the relay would.
final class InMemorySagaStore: SagaStore {
    struct SagaRow: Sendable {
        var definition: SagaDefinition
        var state: SagaState
        var data: CreateOrderData
        var traceparent: String
        var deadline: SagaTime?
        var created: SagaTime
        var updated: SagaTime
        var version = 0
    }

    struct OrderRow: Sendable {
        var checkout: SagaEngine.Checkout
        var owner: String
        var number: Int
        var sagaID: UUID
        /// Its cancel_order saga, if one was started.
        var cancelSagaID: UUID?
        var status: String
        var created: SagaTime
        var updated: SagaTime
    }

    struct OutboxRow: Sendable {
        var message: OutboxMessage
        var publishedAt: SagaTime?
    }

    struct State: Sendable {
        var now = SagaTime(millisecondsSince1970: 1_800_000_000_000)
        var orders: [UUID: OrderRow] = [:]
        var sagas: [UUID: SagaRow] = [:]
        var sagaOrder: [UUID] = []
        var history: [UUID: [(at: SagaTime, entry: SagaHistoryEntry)]] = [:]
        var outbox: [OutboxRow] = []
        var inbox: Set<String> = []
        var keys: [String: (request: String, orderID: UUID, sagaID: UUID, number: Int)] = [:]
        /// The read model, as `order_views` holds it, and the log it is folded from (`order_events`).
        var views: [UUID: OrderReadModel] = [:]
        var orderEvents: [(orderID: UUID, event: RecordedOrderEvent)] = []
        /// The last order number given (as the order_numbers sequence, from 1001).
        var lastNumber = 1000
        /// When set, every call fails as if the database were down.
        var unavailable = false
    }

    private let state = Mutex(State())
    private let definitions: [String: SagaDefinition]

    init(definitions: [SagaDefinition]) {
        var byKey: [String: SagaDefinition] = [:]
        for definition in definitions { byKey["\(definition.name)@\(definition.version)"] = definition }
        self.definitions = byKey
    }

    // MARK: For tests

    /// Moves the clock on.
    func advance(milliseconds: Int) {
        state.withLock { $0.now = $0.now.adding(milliseconds: milliseconds) }
    }

    var now: SagaTime { state.withLock { $0.now } }

    /// Every message written, published or not, oldest first.
    var outbox: [OutboxRow] { state.withLock { $0.outbox } }

    /// Marks every unpublished message as confirmed by the broker now; returns them.
    @discardableResult
    func publishAll() -> [OutboxMessage] {
        state.withLock { state in
            var published: [OutboxMessage] = []
            for index in state.outbox.indices where state.outbox[index].publishedAt == nil {
                state.outbox[index].publishedAt = state.now
                published.append(state.outbox[index].message)
            }
            return published
        }
    }

    /// Makes every call fail as PostgreSQL's would while the server is down.
    func setUnavailable(_ unavailable: Bool) {
        state.withLock { $0.unavailable = unavailable }
    }

    struct Unavailable: Error {}

    // MARK: Writes

    func claimed(idempotencyKey: String, owner: String, request: String) async throws -> StartOutcome? {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            return state.keys[owner + "\n" + idempotencyKey].map { IdempotencyKeys.answer(stored: $0, request: request) }
        }
    }

    func start(
        _ new: NewOrder, idempotencyKey: String?, request: String,
        create: @escaping @Sendable (SagaTime, Int) throws -> (LoadedSaga, SagaWrite)
    ) async throws -> StartOutcome {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            if let idempotencyKey, let claimed = state.keys[new.owner + "\n" + idempotencyKey] {
                return IdempotencyKeys.answer(stored: claimed, request: request)
            }
            let number = state.lastNumber + 1
            let (saga, write) = try create(state.now, number)
            state.lastNumber = number
            if let idempotencyKey { state.keys[new.owner + "\n" + idempotencyKey] = (request, new.orderID, new.sagaID, number) }
            state.orders[new.orderID] = OrderRow(
                checkout: new.checkout, owner: new.owner, number: number, sagaID: new.sagaID, status: "PENDING", created: state.now, updated: state.now)
            state.sagas[saga.id] = SagaRow(
                definition: saga.machine.definition, state: write.state, data: write.data, traceparent: saga.traceparent,
                deadline: nil, created: state.now, updated: state.now)
            state.sagaOrder.append(saga.id)
            Self.store(write, sagaID: saga.id, in: &state)
            state.sagas[saga.id]?.version = 0  // as PostgreSQL's insert: a new saga is version 0
            return .created(number: number, messages: write.messages)
        }
    }

    func update(_ updates: [SagaUpdate]) async throws -> [UpdateOutcome] {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            var working = state  // all or nothing, as one transaction
            let outcomes = try updates.map { update -> UpdateOutcome in
                guard let row = working.sagas[update.sagaID] else { return .unknownSaga }
                guard !working.inbox.contains(update.messageID) else { return .duplicate }
                var saga = Self.loaded(update.sagaID, row, now: working.now)
                let write = try update.body(&saga)
                working.inbox.insert(update.messageID)
                Self.store(write, sagaID: update.sagaID, in: &working)
                return .applied(write)
            }
            state = working
            return outcomes
        }
    }

    func operate(
        _ id: UUID, expectedVersion: Int?, _ body: @escaping @Sendable (inout LoadedSaga) throws -> SagaWrite
    ) async throws -> OperateOutcome {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            guard let row = state.sagas[id] else { return .unknownSaga }
            if let expectedVersion, expectedVersion != row.version { return .changed(currentVersion: row.version) }
            var saga = Self.loaded(id, row, now: state.now)
            let write = try body(&saga)
            Self.store(write, sagaID: id, in: &state)
            return .applied(write)
        }
    }

    func startCancel(
        _ orderID: UUID, owner: String?, window: Duration,
        create: @escaping @Sendable (LoadedSaga) throws -> (LoadedSaga, SagaWrite)
    ) async throws -> CancelOutcome {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            guard var order = state.orders[orderID], owner == nil || order.owner == owner, let original = state.sagas[order.sagaID] else {
                return .unknownOrder
            }
            if let existing = order.cancelSagaID { return .existing(sagaID: existing) }
            guard original.state.status == .completed, order.status == "CONFIRMED" else { return .notConfirmed }
            guard order.updated.millisecondsSince1970 >= state.now.millisecondsSince1970 - window.inMilliseconds else {
                return .windowPassed(confirmedAt: order.updated.iso)
            }
            let (saga, write) = try create(Self.loaded(order.sagaID, original, now: state.now))
            order.cancelSagaID = saga.id
            state.orders[orderID] = order
            state.sagas[saga.id] = SagaRow(
                definition: saga.machine.definition, state: write.state, data: write.data, traceparent: saga.traceparent,
                deadline: nil, created: state.now, updated: state.now)
            state.sagaOrder.append(saga.id)
            Self.store(write, sagaID: saga.id, in: &state)
            state.sagas[saga.id]?.version = 0
            return .started(sagaID: saga.id, messages: write.messages)
        }
    }

    func dueSagas(limit: Int) async throws -> [UUID] {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            let due = state.sagas.filter { $0.value.deadline.map { $0 <= state.now } ?? false }
            return Array(due.sorted { $0.value.deadline! < $1.value.deadline! }.map(\.key).prefix(limit))
        }
    }

    func updateIfDue(
        _ id: UUID, _ body: @escaping @Sendable (inout LoadedSaga, CommandDispatch) throws -> SagaWrite
    ) async throws -> SagaWrite? {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            guard let row = state.sagas[id], let deadline = row.deadline, deadline <= state.now else { return nil }
            var saga = Self.loaded(id, row, now: state.now)
            var dispatch = CommandDispatch.waiting
            if let waitingOn = row.state.deadline, waitingOn.kind == .reply {
                let messageID = SagaMessages.commandMessageID(
                    sagaID: saga.idText, step: waitingOn.step, phase: waitingOn.phase, attempt: waitingOn.attempt)
                if let sent = state.outbox.first(where: { $0.message.messageID == messageID }), let at = sent.publishedAt {
                    dispatch = .confirmed(at: at)
                }
            }
            let write = try body(&saga, dispatch)
            Self.store(write, sagaID: id, in: &state)
            return write
        }
    }

    private static func loaded(_ id: UUID, _ row: SagaRow, now: SagaTime) -> LoadedSaga {
        LoadedSaga(
            id: id, machine: SagaStateMachine(definition: row.definition, state: row.state), data: row.data,
            traceparent: row.traceparent, version: row.version, now: now, startedAt: row.created)
    }

    private static func store(_ write: SagaWrite, sagaID: UUID, in state: inout State) {
        guard var row = state.sagas[sagaID] else { return }
        if row.state != write.state || row.data != write.data { row.version += 1 }  // as SagaWrite.changes(_:)
        row.state = write.state
        row.data = write.data
        if let deadline = write.deadline { row.deadline = deadline }
        row.updated = state.now
        state.sagas[sagaID] = row
        state.history[sagaID, default: []] += write.history.map { (state.now, $0) }
        for message in write.messages where !state.outbox.contains(where: { $0.message.messageID == message.messageID }) {
            state.outbox.append(OutboxRow(message: message, publishedAt: nil))
        }
        if let status = write.orderStatus, var order = state.orders[write.data.orderId] {
            order.status = status
            order.updated = state.now
            state.orders[write.data.orderId] = order
        }
        let orderID = write.data.orderId
        for recorded in write.orderEvents {
            state.orderEvents.append((orderID, recorded))
            state.views[orderID] = OrderProjection.apply(recorded.type, recorded.event, to: state.views[orderID])
        }
    }

    // MARK: Reads

    func order(_ lookup: OrderLookup, owner: String?) async throws -> OrderView? {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            let id: UUID? = switch lookup {
            case .id(let id): id
            case .number(let number): state.orders.first { $0.value.number == number }?.key
            }
            guard let id, let order = state.orders[id], let view = state.views[id], owner == nil || view.owner == owner else { return nil }
            return Self.orderView(id, order, in: state)
        }
    }

    func orders(_ query: OrderQuery) async throws -> OrderListView {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            func key(_ entry: (key: UUID, value: OrderRow)) -> (Int64, String) {
                (entry.value.created.millisecondsSince1970 * 1000, entry.key.uuidString.lowercased())
            }
            // The read model's fields, as the database's filters on order_views.
            var rows = state.orders.filter { id, order in
                guard let view = state.views[id] else { return false }
                let created = order.created.millisecondsSince1970 * 1000
                return (query.owner.map { view.owner == $0 } ?? true) && (query.customer.map { view.customerId == $0 } ?? true)
                    && (query.status.map { view.status == $0 } ?? true) && (query.createdFrom.map { created >= $0 } ?? true)
                    && (query.createdBefore.map { created < $0 } ?? true)
            }.sorted { key($0) > key($1) }
            if let after = query.after {
                rows = rows.filter { key($0) < (after.microseconds, after.id.uuidString.lowercased()) }
            }
            let page = Array(rows.prefix(query.limit))
            var next: String?
            if rows.count > query.limit, let last = page.last {
                next = ListCursor(order: .orders, microseconds: key(last).0, id: last.key).text
            }
            return OrderListView(orders: page.compactMap { Self.orderView($0.key, $0.value, in: state) }, nextCursor: next)
        }
    }

    /// From the read model, with its sagas' live status, as the database's.
    private static func orderView(_ id: UUID, _ order: OrderRow, in state: State) -> OrderView? {
        guard let view = state.views[id], let saga = state.sagas[order.sagaID] else { return nil }
        return OrderView(
            view, sagaStatus: saga.state.status.rawValue,
            cancellation: order.cancelSagaID.flatMap { id in
                state.sagas[id].map {
                    .init(sagaId: id.uuidString.lowercased(), sagaStatus: $0.state.status.rawValue, reason: $0.data.cancelReason ?? "")
                }
            })
    }

    func saga(_ id: UUID) async throws -> SagaView? {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            guard let row = state.sagas[id] else { return nil }
            return SagaView(
                id: id.uuidString.lowercased(), orderId: row.data.orderIdText,
                definition: .init(name: row.definition.name, version: row.definition.version),
                status: row.state.status.rawValue, failureReason: row.state.failureReason, deadlineAt: row.deadline.map(\.iso),
                steps: row.state.steps.map { .init(name: $0.name, status: $0.status.rawValue, attempt: $0.attempt, compensationAttempt: $0.compensationAttempt) },
                timeline: (state.history[id] ?? []).map { at, entry in
                    .init(at: at.iso, event: entry.event.rawValue, step: entry.step, attempt: entry.attempt, detail: entry.detail,
                          actor: entry.actor)
                },
                createdAt: row.created.iso, updatedAt: row.updated.iso, version: row.version,
                data: try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(row.data)))
        }
    }

    func sagas(_ query: SagaQuery) async throws -> SagaListView {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            let now = state.now.millisecondsSince1970
            func inFlight(_ row: SagaRow) -> Bool { [.running, .compensating].contains(row.state.status) }
            func position(_ row: SagaRow) -> Int64 { (query.order == .newest ? row.created : row.updated).millisecondsSince1970 * 1000 }
            var rows = state.sagas.map { (id: $0.key, row: $0.value) }.filter { id, row in
                if let idleFor = query.idleFor {
                    let statuses: [SagaStatus] = query.status.map { [$0] } ?? [.running, .compensating]
                    guard statuses.contains(row.state.status), row.updated.millisecondsSince1970 <= now - idleFor.inMilliseconds else { return false }
                } else if let status = query.status, row.state.status != status {
                    return false
                }
                if let type = query.type, row.definition.name != type { return false }
                if let step = query.step, !(inFlight(row) && row.state.deadline?.step == step) { return false }
                if let olderThan = query.olderThan, row.created.millisecondsSince1970 > now - olderThan.inMilliseconds { return false }
                return true
            }
            // The same order as the database's: by position, then id, newest (or longest idle) first.
            let newest = query.order == .newest
            func before(_ a: (Int64, String), _ b: (Int64, String)) -> Bool { newest ? a > b : a < b }
            func key(_ entry: (id: UUID, row: SagaRow)) -> (Int64, String) { (position(entry.row), entry.id.uuidString.lowercased()) }
            rows.sort { (a: (id: UUID, row: SagaRow), b: (id: UUID, row: SagaRow)) -> Bool in before(key(a), key(b)) }
            if let after = query.after {
                let cursor = (after.microseconds, after.id.uuidString.lowercased())
                rows = rows.filter { (entry: (id: UUID, row: SagaRow)) -> Bool in before(cursor, key(entry)) }
            }
            let page: [(id: UUID, row: SagaRow)] = Array(rows.prefix(query.limit))
            var next: String?
            if rows.count > query.limit, let last = page.last {
                next = ListCursor(order: query.order, microseconds: position(last.row), id: last.id).text
            }
            return SagaListView(sagas: page.map { id, row in
                .init(id: id.uuidString.lowercased(), orderId: row.data.orderIdText, type: row.definition.name, status: row.state.status.rawValue,
                      step: inFlight(row) ? row.state.deadline?.step : nil, createdAt: row.created.iso, updatedAt: row.updated.iso)
            }, nextCursor: next)
        }
    }

    func stats(window: Duration, label: String) async throws -> SagaStatsView {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            let since = state.now.millisecondsSince1970 - window.inMilliseconds
            var byStatus = Dictionary(uniqueKeysWithValues: SagaStatus.allCases.map { ($0.rawValue, 0) })
            var waiting: [[String]: Int] = [:]  // by [step, phase]
            var durations: [Double] = []
            for row in state.sagas.values where row.created.millisecondsSince1970 >= since {
                byStatus[row.state.status.rawValue, default: 0] += 1
                if [.running, .compensating].contains(row.state.status), let deadline = row.state.deadline {
                    waiting[[deadline.step, deadline.phase.rawValue], default: 0] += 1
                }
                if row.state.status.isFinal {
                    durations.append(Double(row.updated.millisecondsSince1970 - row.created.millisecondsSince1970))
                }
            }
            durations.sort()
            // percentile_cont, as PostgreSQL computes it: interpolated between the nearest two.
            func percentile(_ p: Double) -> Double {
                guard !durations.isEmpty else { return 0 }
                let position = p * Double(durations.count - 1)
                let lower = Int(position.rounded(.down)), upper = Int(position.rounded(.up))
                return durations[lower] + (durations[upper] - durations[lower]) * (position - Double(lower))
            }
            return SagaStatsView(
                window: label, started: byStatus.values.reduce(0, +), byStatus: byStatus,
                waiting: SagaStatsView.sortedWaiting(waiting.map { .init(step: $0.key[0], phase: $0.key[1], count: $0.value) }),
                ended: .init(count: durations.count, p50Ms: percentile(0.5), p99Ms: percentile(0.99)))
        }
    }

    func gauges() async throws -> (sagas: [SagaStatus: Int], outboxBacklog: Int, oldestIdleSeconds: Double) {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            var counts: [SagaStatus: Int] = [:]
            for row in state.sagas.values where [.running, .compensating, .failed].contains(row.state.status) {
                counts[row.state.status, default: 0] += 1
            }
            let inFlight = state.sagas.values.filter { [.running, .compensating].contains($0.state.status) }
            let oldest = inFlight.map(\.updated.millisecondsSince1970).min()
            let idle = oldest.map { Double(state.now.millisecondsSince1970 - $0) / 1000 } ?? 0
            return (counts, state.outbox.filter { $0.publishedAt == nil }.count, idle)
        }
    }

    func sagasInFlight() async throws -> Int {
        try state.withLock { state in
            guard !state.unavailable else { throw Unavailable() }
            return state.sagas.values.filter { [.running, .compensating].contains($0.state.status) }.count
        }
    }

    func isAvailable() async -> Bool {
        state.withLock { !$0.unavailable }
    }
}

import AMQP
import CheckoutContracts
import Foundation
import Logging
import Messaging
import Postgres
import SagaCore

/// Runs create_order sagas against `order_db`. Every input (checkout, reply, deadline) is one
/// transaction: load the saga `FOR UPDATE`, feed the pure state machine, then write its state,
/// its history, its deadline and the messages it sends (outbox) together. A crash at any point
/// leaves either all of it or none of it; row locks let several instances share one database.
public struct SagaEngine: Sendable {
    let pool: PostgresPool
    let definition: SagaDefinition
    let registry: SagaDefinitionRegistry
    /// Called after a transaction that wrote to the outbox committed: wakes the relay.
    let outboxWritten: @Sendable () -> Void
    let metrics: OrderServiceMetrics
    let logger: Logger

    /// A checkout that passed validation.
    public struct Checkout: Sendable, Equatable {
        public var customerId: String
        public var cartId: String
        public var items: [CreateOrderData.Item]
        public var couponCode: String?
        public var paymentCardId: String
        public var shippingAddress: CreateOrderData.Address
    }

    public struct Accepted: Sendable, Equatable {
        public var orderID: UUID
        public var sagaID: UUID
        /// True when an earlier request with the same Idempotency-Key created it.
        public var replayed: Bool
    }

    /// The same Idempotency-Key came with a different request.
    struct IdempotencyConflict: Error {}

    // MARK: Inputs

    /// Creates the order and its saga and sends the first command, in one transaction.
    /// `request` is the checkout's canonical JSON: a key reused with other text is refused.
    func start(_ checkout: Checkout, idempotencyKey: String?, request: String) async throws -> Accepted {
        let accepted = try await pool.transaction { [definition] connection -> Accepted in
            let orderID = UUID()
            let sagaID = UUID()
            if let idempotencyKey {
                // Waits for a concurrent request with the same key, then sees its row.
                let claimed = try connection.query(
                    "INSERT INTO idempotency_keys (key, request, order_id, saga_id) VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO NOTHING",
                    [idempotencyKey, request, orderID, sagaID])
                if claimed.affectedRows == 0 {
                    let row = try connection.query(
                        "SELECT request, order_id, saga_id FROM idempotency_keys WHERE key = $1", [idempotencyKey]).first!
                    guard try row.string("request") == request else { throw IdempotencyConflict() }
                    return Accepted(orderID: try row.uuid("order_id"), sagaID: try row.uuid("saga_id"), replayed: true)
                }
            }
            let data = CreateOrderData(
                orderId: orderID, customerId: checkout.customerId, cartId: checkout.cartId, couponCode: checkout.couponCode,
                paymentCardId: checkout.paymentCardId, shippingAddress: checkout.shippingAddress, items: checkout.items)
            let nowMilliseconds = try connection.query(
                """
                INSERT INTO orders (id, customer_id, cart_id, coupon_code, payment_card_id, shipping_address, items, status)
                VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, 'PENDING')
                RETURNING floor(extract(epoch FROM now()) * 1000)::bigint AS now_ms
                """,
                [orderID, checkout.customerId, checkout.cartId, checkout.couponCode, checkout.paymentCardId,
                 try PostgresJSON(checkout.shippingAddress), try PostgresJSON(checkout.items)]
            ).first!.int("now_ms")
            let now = SagaTime(millisecondsSince1970: Int64(nowMilliseconds))
            var machine = SagaStateMachine(definition: definition, state: SagaState(definition: definition, jitterSeed: UInt64.random(in: 0...UInt64.max)))
            let transition = machine.start(skipping: CreateOrderSaga.skippedSteps(data), at: now)
            var saga = LoadedSaga(id: sagaID, machine: machine, data: data, traceparent: SagaMessages.newTraceparent(), now: now)
            _ = try persist(&saga, transition, isNew: true, on: connection)
            return Accepted(orderID: orderID, sagaID: sagaID, replayed: false)
        }
        if accepted.replayed {
            metrics.checkoutsReplayed.increment()
        } else {
            metrics.checkoutsAccepted.increment()
            outboxWritten()
        }
        return accepted
    }

    /// A participant's reply: recorded in the inbox, then fed to the saga it belongs to.
    func handleReply(_ delivery: AMQPDelivery) async throws {
        let reply = try IncomingReply(delivery)
        let started = ContinuousClock.now
        let outcome = try await pool.transaction { connection -> (handled: Bool, finished: SagaStatus?) in
            // The inbox claim and the saga's lock in one round trip.
            guard let (claimed, loaded) = try load(reply.sagaID, claiming: (reply.messageID, reply.type), on: connection) else {
                throw MalformedMessage("reply for unknown saga \(reply.sagaID)")
            }
            guard claimed else { return (false, nil) }  // a copy of a reply already handled
            var saga = loaded
            let transition = saga.machine.replyReceived(
                StepReply(step: reply.step, phase: reply.phase, attempt: reply.attempt, outcome: reply.outcome), at: saga.now)
            return (true, try persist(&saga, transition, isNew: false, reply: delivery.body, on: connection))
        }
        if outcome.handled {
            outboxWritten()
            metrics.repliesHandled.increment()
            metrics.replyHandling.record(ContinuousClock.now - started)
            if let status = outcome.finished { finished(reply.sagaID, status) }
        } else {
            metrics.repliesDuplicate.increment()
        }
    }

    /// Feeds every saga whose deadline passed (by the database's clock); returns how many.
    func sweepDeadlines(limit: Int) async throws -> Int {
        let due = try await pool.query(
            "SELECT id FROM order_sagas WHERE deadline_at <= now() ORDER BY deadline_at LIMIT $1", [limit]
        ).map { try $0.uuid("id") }
        for id in due {
            let fired = try await pool.transaction { connection -> (Bool, SagaStatus?) in
                // Another instance may have taken it, or a reply moved its deadline: then nothing is due.
                guard var saga = try loadIfDue(id, on: connection) else { return (false, nil) }
                let transition = saga.machine.deadlinePassed(at: saga.now, dispatch: try dispatch(of: saga, on: connection))
                return (true, try persist(&saga, transition, isNew: false, on: connection))
            }
            if fired.0 { outboxWritten() }
            if let status = fired.1 { finished(id, status) }
        }
        return due.count
    }

    /// Whether the broker has taken the command that the saga's reply deadline waits on, from
    /// the outbox row the relay marks published after the broker's confirm.
    private func dispatch(of saga: LoadedSaga, on connection: PostgresConnection) throws -> CommandDispatch {
        guard let deadline = saga.machine.state.deadline, deadline.kind == .reply else { return .waiting }  // not asked
        let messageID = SagaMessages.commandMessageID(sagaID: saga.idText, step: deadline.step, phase: deadline.phase, attempt: deadline.attempt)
        let rows = try connection.query(
            """
            SELECT published_at IS NOT NULL AS published, floor(extract(epoch FROM coalesce(published_at, now())) * 1000)::bigint AS at_ms
            FROM outbox WHERE message_id = $1
            """, [messageID])
        // No row: published, then pruned by retention an hour or more ago.
        guard let row = rows.first else { return .confirmed(at: SagaTime(millisecondsSince1970: 0)) }
        guard try row.bool("published") else { return .waiting }
        return .confirmed(at: SagaTime(millisecondsSince1970: Int64(try row.int("at_ms"))))
    }

    /// After the commit that ended a saga: count it, and tell the operator about a parked one.
    private func finished(_ id: UUID, _ status: SagaStatus) {
        metrics.sagaFinished(status)
        if status == .failed {
            logger.error("saga parked as FAILED: a compensation or a step after the pivot exhausted its retries; an operator must act", metadata: [
                "saga_id": "\(id.uuidString.lowercased())",
            ])
        }
    }

    // MARK: Loading and storing

    struct LoadedSaga {
        let id: UUID
        var machine: SagaStateMachine
        var data: CreateOrderData
        let traceparent: String
        /// The database's clock, read in the same transaction.
        let now: SagaTime

        var idText: String { id.uuidString.lowercased() }
    }

    static let sagaColumns = """
        state::text AS state, data::text AS data, definition_name, definition_version, traceparent,
        floor(extract(epoch FROM now()) * 1000)::bigint AS now_ms
        """

    /// Locks the saga if its deadline has passed and no one else holds it.
    private func loadIfDue(_ id: UUID, on connection: PostgresConnection) throws -> LoadedSaga? {
        let rows = try connection.query(
            "SELECT \(Self.sagaColumns) FROM order_sagas WHERE id = $1 AND deadline_at <= now() FOR UPDATE SKIP LOCKED", [id])
        return try rows.first.map { try saga(id, from: $0) }
    }

    /// Records a message in the inbox and locks its saga, in one statement. `claimed` is false
    /// when the message was handled before.
    private func load(_ id: UUID, claiming message: (id: String, type: String), on connection: PostgresConnection) throws -> (claimed: Bool, saga: LoadedSaga)? {
        let rows = try connection.query(
            """
            WITH claim AS (INSERT INTO inbox (message_id, type) VALUES ($2, $3) ON CONFLICT (message_id) DO NOTHING RETURNING 1)
            SELECT (SELECT count(*) FROM claim) AS claimed, \(Self.sagaColumns) FROM order_sagas WHERE id = $1 FOR UPDATE
            """, [id, message.id, message.type])
        return try rows.first.map { (try $0.int("claimed") == 1, try saga(id, from: $0)) }
    }

    private func saga(_ id: UUID, from row: PostgresRow) throws -> LoadedSaga {
        let definition = try registry.definition(name: try row.string("definition_name"), version: try row.int("definition_version"))
        return LoadedSaga(
            id: id,
            machine: SagaStateMachine(definition: definition, state: try row.json("state", as: SagaState.self)),
            data: try row.json("data", as: CreateOrderData.self),
            traceparent: try row.string("traceparent"),
            now: SagaTime(millisecondsSince1970: Int64(try row.int("now_ms"))))
    }

    /// Runs a transition's actions, in order, in one exhaustive switch: merges a reply's data, writes
    /// the commands it sends and the events it emits to the outbox, moves the deadline, and sets the
    /// order's final status; then stores the state, history and messages. `reply`: the body of the
    /// reply that caused the transition, for ``SagaAction/acceptResult(step:command:)``.
    /// Returns the saga's final status when this transition ended it.
    @discardableResult
    private func persist(
        _ saga: inout LoadedSaga, _ transition: SagaTransition, isNew: Bool, reply: [UInt8]? = nil,
        on connection: PostgresConnection
    ) throws -> SagaStatus? {
        var messages: [OutboxMessage] = []
        var finished: SagaStatus?
        /// `nil`: the transition left the deadline as it was.
        var deadline: SagaTime??
        for action in transition.actions {
            switch action {
            case .acceptResult(_, let command):
                guard let reply else { preconditionFailure("acceptResult without a reply") }
                try CreateOrderSaga.merge(reply: reply, command: command, into: &saga.data)
            case .send(let message):
                let payload = try CreateOrderSaga.payload(for: message, data: saga.data)
                messages.append(SagaMessages.command(sagaID: saga.idText, message: message, payload: payload, traceparent: saga.traceparent))
            case .scheduleDeadline(let next):
                deadline = .some(next.at)
            case .cancelDeadline:
                deadline = .some(nil)
            case .emit(let event):
                messages.append(try self.event(event, saga: saga))
            case .finish(let status, let committed):
                finished = status
                try finishOrder(saga, as: status, committed: committed, on: connection)
            }
        }
        // The saga's row, its history and its messages in one statement (one round trip).
        let state = saga.machine.state
        let deadlineSeconds: Double? = (deadline ?? nil).map { Double($0.millisecondsSince1970) / 1000 }
        let history = transition.history
        var parameters: [any PostgresParameter] = [
            saga.id, state.status.rawValue, try PostgresJSON(state), try PostgresJSON(saga.data), deadlineSeconds, deadline != nil,
        ]
        let sagaStatement: String
        if isNew {
            sagaStatement = """
                INSERT INTO order_sagas (id, status, state, data, deadline_at, order_id, definition_name, definition_version, traceparent)
                VALUES ($1, $2, $3::jsonb, $4::jsonb, CASE WHEN $6::bool THEN to_timestamp($5::float8) END, $7, $8, $9, $10)
                """
            parameters += [saga.data.orderId, saga.machine.definition.name, saga.machine.definition.version, saga.traceparent]
        } else {
            sagaStatement = """
                UPDATE order_sagas SET status = $2, state = $3::jsonb, data = $4::jsonb,
                    deadline_at = CASE WHEN $6::bool THEN to_timestamp($5::float8) ELSE deadline_at END, updated_at = now()
                WHERE id = $1
                """
        }
        let h = parameters.count + 1
        parameters += [history.map(\.event.rawValue), history.map(\.step), history.map(\.attempt), history.map(\.detail)]
        let (outboxStatement, outboxParameters) = try Outbox.insertStatement(messages, firstParameter: parameters.count + 1)
        try connection.query(
            """
            WITH saga AS (\(sagaStatement)),
                 history AS (INSERT INTO saga_history (saga_id, event, step, attempt, detail)
                             SELECT $1, * FROM unnest($\(h)::text[], $\(h + 1)::text[], $\(h + 2)::int[], $\(h + 3)::text[])),
                 outbox AS (\(outboxStatement))
            SELECT 1
            """,
            parameters + outboxParameters)
        return finished
    }

    /// The order's final status and totals. `committed`: what the saga did stands, so the order is
    /// confirmed even when the saga was parked after its pivot (a confirmation that never went out).
    private func finishOrder(_ saga: LoadedSaga, as status: SagaStatus, committed: Bool, on connection: PostgresConnection) throws {
        let orderStatus: String
        switch status {
        case .completed: orderStatus = "CONFIRMED"
        case .compensated: orderStatus = "CANCELLED"
        case .failed: orderStatus = committed ? "CONFIRMED" : "FAILED"
        case .running, .compensating: preconditionFailure("\(status) is not final")
        }
        try connection.query(
            """
            UPDATE orders SET status = $2, subtotal_cents = $3, discount_cents = $4, total_cents = $5, updated_at = now()
            WHERE id = $1
            """,
            [saga.data.orderId, orderStatus, saga.data.subtotalCents, saga.data.discountCents, saga.data.totalCents])
    }

    /// A saga event as the order event on `ordersaga.events` that it means.
    private func event(_ event: SagaEvent, saga: LoadedSaga) throws -> OutboxMessage {
        var body = OrderEvent(orderId: saga.data.orderIdText, sagaId: saga.idText, customerId: saga.data.customerId)
        let name: String
        switch event {
        case .started:
            name = OrderEvents.created
        case .committed:
            name = OrderEvents.confirmed
            body.totalCents = saga.data.totalCents
        case .cancelled(let reason):
            name = OrderEvents.cancelled
            body.reason = reason
            body.totalCents = saga.data.totalCents
        }
        return try self.event(name, saga: saga, body: body)
    }

    private func event(_ name: String, saga: LoadedSaga, body: OrderEvent) throws -> OutboxMessage {
        OutboxMessage(
            messageID: "\(saga.idText):\(name)", exchange: SagaTopology.eventsExchange, routingKey: name, type: name,
            correlationID: saga.idText, mandatory: false, headers: ["traceparent": .string(saga.traceparent)],
            body: try PostgresJSON(body).text)
    }
}

/// A reply as the order service receives it, its envelope checked.
struct IncomingReply {
    let messageID: String
    let type: String
    let sagaID: UUID
    let step: String
    let phase: StepPhase
    let attempt: Int
    let outcome: StepReply.Outcome

    init(_ delivery: AMQPDelivery) throws {
        let envelope = try SagaEnvelope(delivery.properties)
        guard let sagaID = UUID(uuidString: envelope.sagaID) else {
            throw MalformedMessage("reply's correlation_id \(envelope.sagaID) is not a saga id")
        }
        let body: ReplyBody<Empty>
        do {
            body = try JSONDecoder().decode(ReplyBody<Empty>.self, from: Data(delivery.body))
        } catch {
            throw MalformedMessage("reply body is not a reply: \(error)")
        }
        self.messageID = envelope.messageID
        self.type = envelope.type
        self.sagaID = sagaID
        self.step = envelope.step
        self.phase = envelope.phase
        self.attempt = envelope.attempt
        switch body.outcome {
        case .succeeded: outcome = .succeeded
        case .failed: outcome = .failed(reason: [body.reason, body.detail].compactMap { $0 }.joined(separator: ": "))
        }
    }
}

import CheckoutContracts
import Foundation
import HTTPEdge
import Messaging
import Postgres
import SagaCore

/// The order service's ``SagaStore`` in `order_db`: every SQL statement of the order service is in
/// this file. Each write is one transaction that locks the saga's row (`FOR UPDATE`), so several
/// instances can share one database; the clock is the database's `now()`.
struct PostgresSagaStore: SagaStore {
    let pool: PostgresPool
    let registry: SagaDefinitionRegistry
    /// The state and data of the sagas this process wrote last, which a load whose row has the
    /// same version takes instead of reading and decoding them again.
    let cache = SagaStateCache()

    /// Opens the store on `pool`: stores each of `current` whose version is new, and knows every
    /// version sagas in this database started with. Throws when the stored copy of the same version
    /// differs (the file was changed without raising its version).
    static func open(pool: PostgresPool, registering current: [(definition: SagaDefinition, file: String)]) async throws -> PostgresSagaStore {
        let stored = try await pool.transaction { connection -> [SagaDefinition] in
            for (definition, _) in current {
                try connection.query(
                    "INSERT INTO saga_definitions (name, version, definition) VALUES ($1, $2, $3::jsonb) ON CONFLICT DO NOTHING",
                    [definition.name, definition.version, try PostgresJSON(definition)])
            }
            return try connection.query("SELECT definition::text AS definition FROM saga_definitions").map {
                try $0.json("definition", as: SagaDefinition.self)
            }
        }
        let store = PostgresSagaStore(pool: pool, registry: try SagaDefinitionRegistry.checked(current, stored: stored))
        // Orders whose events have no view yet: those the migration imported from before the log.
        _ = try await foldReadModel(on: pool, .missing)
        return store
    }

    /// The orders the migration imported that have no view yet, through a partial index: nothing
    /// to read once they have one.
    private static let importedWithoutView = """
        AND e.order_id IN (SELECT i.order_id FROM order_events i
                           WHERE i.type = 'order.imported' AND NOT EXISTS (SELECT 1 FROM order_views v WHERE v.id = i.order_id))
        """

    /// Folds `order_views` from `order_events` (``OrderProjection``), in one transaction, a page
    /// of events at a time in order and sequence, as `mode` says. `progress` hears the orders and
    /// events folded so far.
    static func foldReadModel(
        on pool: PostgresPool, _ mode: ReadModelFold.Mode,
        progress: @escaping @Sendable (_ orders: Int, _ events: Int) -> Void = { _, _ in }
    ) async throws -> ReadModelFold {
        try await pool.transaction { connection in
            switch mode {
            case .rebuild:
                try connection.query("LOCK TABLE order_views IN EXCLUSIVE MODE")
                try connection.query("DELETE FROM order_views")
            case .check:
                // One snapshot for the log and the views.
                try connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            case .missing:
                break
            }
            var result = ReadModelFold()
            var current: (id: UUID, view: OrderReadModel?)?
            var batch: [OrderReadModel] = []
            func flush() throws {
                guard !batch.isEmpty else { return }
                if mode == .check {
                    var stored: [String: OrderReadModel] = [:]
                    for row in try connection.query(
                        "SELECT id::text AS id, view::text AS view FROM order_views WHERE id = ANY($1::uuid[])", [batch.map(\.id)]) {
                        stored[try row.string("id")] = try row.json("view", as: OrderReadModel.self)
                    }
                    result.differing += batch.filter { stored[$0.id] != $0 }.map(\.id)
                } else {
                    try connection.query(
                        """
                        INSERT INTO order_views (id, number, owner, customer_id, status, created_at, updated_at, view)
                        SELECT (v->>'id')::uuid, (v->>'number')::bigint, v->>'owner', v->>'customerId', v->>'status',
                               (v->>'createdAt')::timestamptz, (v->>'updatedAt')::timestamptz, v
                        FROM (SELECT t::jsonb AS v FROM unnest($1::text[]) AS t) views
                        ON CONFLICT (id) DO NOTHING
                        """, [try batch.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }])
                }
                result.orders += batch.count
                batch.removeAll()
                progress(result.orders, result.events)
            }
            func finish() {
                if let view = current?.view { batch.append(view) }
            }
            var after: (UUID, Int64) = (UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), 0)
            while true {
                let rows = try connection.query(
                    """
                    SELECT e.seq, e.order_id, e.type, e.body::text AS body FROM order_events e
                    WHERE (e.order_id, e.seq) > ($1, $2) \(mode == .missing ? Self.importedWithoutView : "")
                    ORDER BY e.order_id, e.seq LIMIT 5000
                    """, [after.0, after.1])
                for row in rows {
                    let orderID = try row.uuid("order_id")
                    if current?.id != orderID {
                        finish()
                        current = (orderID, nil)
                        if batch.count >= 500 { try flush() }
                    }
                    current!.view = OrderProjection.apply(try row.string("type"), try row.json("body", as: OrderEvent.self), to: current!.view)
                    result.events += 1
                    after = (orderID, Int64(try row.int("seq")))
                }
                if rows.count < 5000 { break }
            }
            finish()
            try flush()
            if mode == .check {
                result.unfolded = try connection.query(
                    "SELECT id::text AS id FROM order_views v WHERE NOT EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = v.id) ORDER BY id"
                ).map { try $0.string("id") }
            }
            return result
        }
    }

    // MARK: Writes

    func claimed(idempotencyKey: String, owner: String, request: String) async throws -> StartOutcome? {
        try await pool.query(
            """
            SELECT k.request, k.order_id, k.saga_id, o.number FROM idempotency_keys k JOIN orders o ON o.id = k.order_id
            WHERE k.owner = $1 AND k.key = $2
            """, [owner, idempotencyKey]
        ).first.map { row in
            IdempotencyKeys.answer(
                stored: (try row.string("request"), try row.uuid("order_id"), try row.uuid("saga_id"), try row.int("number")), request: request)
        }
    }

    func start(
        _ new: NewOrder, idempotencyKey: String?, request: String,
        create: @escaping @Sendable (SagaTime, Int) throws -> (LoadedSaga, SagaWrite)
    ) async throws -> StartOutcome {
        let (outcome, written) = try await pool.transaction { connection -> (StartOutcome, [UUID: SagaStateCache.Entry]) in
            if let idempotencyKey {
                // Waits for a concurrent request with the same key, then sees its row.
                let claimed = try connection.query(
                    "INSERT INTO idempotency_keys (owner, key, request, order_id, saga_id) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner, key) DO NOTHING",
                    [new.owner, idempotencyKey, request, new.orderID, new.sagaID])
                if claimed.affectedRows == 0 {
                    let row = try connection.query(
                        """
                        SELECT k.request, k.order_id, k.saga_id, o.number FROM idempotency_keys k JOIN orders o ON o.id = k.order_id
                        WHERE k.owner = $1 AND k.key = $2
                        """, [new.owner, idempotencyKey]).first!
                    return (IdempotencyKeys.answer(
                        stored: (try row.string("request"), try row.uuid("order_id"), try row.uuid("saga_id"), try row.int("number")),
                        request: request), [:])
                }
            }
            let checkout = new.checkout
            let created = try connection.query(
                """
                INSERT INTO orders (id, customer_id, cart_id, coupon_code, payment_card_id, shipping_address, items, status, owner)
                VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, 'PENDING', $8)
                RETURNING floor(extract(epoch FROM now()) * 1000)::bigint AS now_ms, number
                """,
                [new.orderID, checkout.customerId, checkout.cartId, checkout.couponCode, checkout.paymentCardId,
                 try PostgresJSON(checkout.shippingAddress), try PostgresJSON(checkout.items), new.owner]
            ).first!
            let number = try created.int("number")
            let (saga, write) = try create(SagaTime(millisecondsSince1970: Int64(try created.int("now_ms"))), number)
            let written = try store(write, of: saga, isNew: true, on: connection)
            return (.created(number: number, messages: write.messages), [saga.id: written])
        }
        cache.remember(written)
        return outcome
    }

    func update(_ updates: [SagaUpdate]) async throws -> [UpdateOutcome] {
        let (outcomes, written) = try await pool.transaction { connection -> ([UpdateOutcome], [UUID: SagaStateCache.Entry]) in
            var written: [UUID: SagaStateCache.Entry] = [:]
            let outcomes = try updates.map { update -> UpdateOutcome in
                // The inbox claim and the saga's lock in one round trip.
                let cached = written[update.sagaID] ?? cache.entry(update.sagaID)
                let rows = try connection.query(
                    """
                    WITH claim AS (INSERT INTO inbox (message_id, type) VALUES ($2, $3) ON CONFLICT (message_id) DO NOTHING RETURNING 1)
                    SELECT (SELECT count(*) FROM claim) AS claimed, \(Self.sagaColumns(cachedVersion: "$4")) FROM order_sagas WHERE id = $1 FOR UPDATE
                    """, [update.sagaID, update.messageID, update.messageType, cached?.version ?? -1])
                guard let row = rows.first else { return .unknownSaga }
                guard try row.int("claimed") == 1 else { return .duplicate }
                var saga = try self.saga(update.sagaID, from: row, cached: cached)
                let loaded = saga
                let write = try update.body(&saga)
                written[saga.id] = try store(write, of: saga, isNew: false, changed: write.changes(loaded), on: connection)
                return .applied(write)
            }
            return (outcomes, written)
        }
        cache.remember(written)
        return outcomes
    }

    func operate(
        _ id: UUID, expectedVersion: Int?, _ body: @escaping @Sendable (inout LoadedSaga) throws -> SagaWrite
    ) async throws -> OperateOutcome {
        let cached = cache.entry(id)
        let (outcome, written) = try await pool.transaction { connection -> (OperateOutcome, SagaStateCache.Entry?) in
            guard let row = try connection.query(
                "SELECT \(Self.sagaColumns(cachedVersion: "$2")) FROM order_sagas WHERE id = $1 FOR UPDATE", [id, cached?.version ?? -1]).first
            else {
                return (.unknownSaga, nil)
            }
            var saga = try self.saga(id, from: row, cached: cached)
            if let expectedVersion, expectedVersion != saga.version { return (.changed(currentVersion: saga.version), nil) }
            let loaded = saga
            let write = try body(&saga)
            return (.applied(write), try store(write, of: saga, isNew: false, changed: write.changes(loaded), on: connection))
        }
        if let written { cache.remember([id: written]) }
        return outcome
    }

    func startCancel(
        _ orderID: UUID, owner: String?, window: Duration,
        create: @escaping @Sendable (LoadedSaga) throws -> (LoadedSaga, SagaWrite)
    ) async throws -> CancelOutcome {
        try await pool.transaction { connection -> CancelOutcome in
            // The create_order saga's row locked: two cancels of one order take turns.
            guard let order = try connection.query(
                """
                SELECT s.id, s.status, o.status AS order_status, o.updated_at >= now() - make_interval(secs => $3) AS in_window,
                       \(Self.iso("o.updated_at")) AS confirmed_at
                FROM orders o JOIN order_sagas s ON s.order_id = o.id AND s.definition_name = $4
                WHERE o.id = $1 AND ($2::text IS NULL OR o.owner = $2) FOR UPDATE OF s
                """, [orderID, owner, window.inSeconds, CreateOrderSaga.name]).first
            else { return .unknownOrder }
            if let existing = try connection.query(
                "SELECT id FROM order_sagas WHERE order_id = $1 AND definition_name = $2", [orderID, CreateOrderSaga.cancelName]).first {
                return .existing(sagaID: try existing.uuid("id"))
            }
            guard try order.string("status") == SagaStatus.completed.rawValue, try order.string("order_status") == "CONFIRMED" else {
                return .notConfirmed
            }
            guard try order.bool("in_window") else { return .windowPassed(confirmedAt: try order.string("confirmed_at")) }
            let id = try order.uuid("id")
            let row = try connection.query("SELECT \(Self.sagaColumns(cachedVersion: "-1")) FROM order_sagas WHERE id = $1", [id]).first!
            let (saga, write) = try create(try self.saga(id, from: row, cached: nil))
            try store(write, of: saga, isNew: true, on: connection)
            return .started(sagaID: saga.id, messages: write.messages)
        }
    }

    func dueSagas(limit: Int) async throws -> [UUID] {
        try await pool.query(
            // Through order_sagas_status: only a saga in flight has a deadline, and deadline_at has no
            // index of its own, so that a step's update is HOT (schema/order/020).
            """
            SELECT id FROM order_sagas WHERE status IN ('RUNNING', 'COMPENSATING') AND deadline_at <= now()
            ORDER BY deadline_at LIMIT $1
            """, [limit]
        ).map { try $0.uuid("id") }
    }

    func updateIfDue(
        _ id: UUID, _ body: @escaping @Sendable (inout LoadedSaga, CommandDispatch) throws -> SagaWrite
    ) async throws -> SagaWrite? {
        let cached = cache.entry(id)
        let done = try await pool.transaction { connection -> (SagaWrite, SagaStateCache.Entry)? in
            // Another instance may have taken it, or a reply moved its deadline: then nothing is due.
            let rows = try connection.query(
                "SELECT \(Self.sagaColumns(cachedVersion: "$2")) FROM order_sagas WHERE id = $1 AND deadline_at <= now() FOR UPDATE SKIP LOCKED",
                [id, cached?.version ?? -1])
            guard let row = rows.first else { return nil }
            var saga = try self.saga(id, from: row, cached: cached)
            let loaded = saga
            let write = try body(&saga, try dispatch(of: saga, on: connection))
            return (write, try store(write, of: saga, isNew: false, changed: write.changes(loaded), on: connection))
        }
        guard let done else { return nil }
        cache.remember([id: done.1])
        return done.0
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

    /// A saga row's columns, without its state and data when its version is `cachedVersion` (a
    /// parameter, or -1): the copy in ``cache`` is that version's.
    static func sagaColumns(cachedVersion: String) -> String {
        """
        CASE WHEN version = \(cachedVersion) THEN NULL ELSE state::text END AS state,
        CASE WHEN version = \(cachedVersion) THEN NULL ELSE data::text END AS data,
        definition_name, definition_version, traceparent, version,
        floor(extract(epoch FROM now()) * 1000)::bigint AS now_ms, floor(extract(epoch FROM created_at) * 1000)::bigint AS started_ms
        """
    }

    /// The saga of `row`, read with ``sagaColumns(cachedVersion:)`` for `cached`'s version: its
    /// state and data are `cached`'s when the row left them out.
    private func saga(_ id: UUID, from row: PostgresRow, cached: SagaStateCache.Entry?) throws -> LoadedSaga {
        let definition = try registry.definition(name: try row.string("definition_name"), version: try row.int("definition_version"))
        let state: SagaState, data: CreateOrderData
        if let cached, try row.isNull("state") {
            (state, data) = (cached.state, cached.data)
            cache.hit()
        } else {
            (state, data) = (try row.json("state", as: SagaState.self), try row.json("data", as: CreateOrderData.self))
        }
        return LoadedSaga(
            id: id,
            machine: SagaStateMachine(definition: definition, state: state),
            data: data,
            traceparent: try row.string("traceparent"),
            version: try row.int("version"),
            now: SagaTime(millisecondsSince1970: Int64(try row.int("now_ms"))),
            startedAt: SagaTime(millisecondsSince1970: Int64(try row.int("started_ms"))))
    }

    /// The saga's row, its history, its messages and (when it ended) its order, in one statement.
    /// `changed`: the input changed the saga's state or data, so its version goes up (an ignored
    /// late reply is no news to an operator acting on what they saw). Returns what the row holds
    /// once it commits, for ``cache``.
    @discardableResult
    private func store(
        _ write: SagaWrite, of saga: LoadedSaga, isNew: Bool, changed: Bool = true, on connection: PostgresConnection
    ) throws -> SagaStateCache.Entry {
        var statement = StatementBuilder()
        let id = statement.bind(saga.id)
        let status = statement.bind(write.state.status.rawValue)
        let state = statement.bind(try PostgresJSON(write.state))
        let data = statement.bind(try PostgresJSON(write.data))
        let deadline = statement.bind((write.deadline ?? nil).map { Double($0.millisecondsSince1970) / 1000 })
        let deadlineChanged = statement.bind(write.deadline != nil)
        let sagaStatement: String
        if isNew {
            let order = statement.bind(write.data.orderId)
            let name = statement.bind(saga.machine.definition.name)
            let version = statement.bind(saga.machine.definition.version)
            let traceparent = statement.bind(saga.traceparent)
            sagaStatement = """
                INSERT INTO order_sagas (id, status, state, data, deadline_at, order_id, definition_name, definition_version, traceparent)
                VALUES (\(id), \(status), \(state)::jsonb, \(data)::jsonb,
                        CASE WHEN \(deadlineChanged)::bool THEN to_timestamp(\(deadline)::float8) END, \(order), \(name), \(version), \(traceparent))
                """
        } else {
            sagaStatement = """
                UPDATE order_sagas SET status = \(status), state = \(state)::jsonb, data = \(data)::jsonb,
                    deadline_at = CASE WHEN \(deadlineChanged)::bool THEN to_timestamp(\(deadline)::float8) ELSE deadline_at END,
                    version = version + \(statement.bind(changed ? 1 : 0)), updated_at = now()
                WHERE id = \(id)
                """
        }
        let history = write.history
        let events = statement.bind(history.map(\.event.rawValue))
        let steps = statement.bind(history.map(\.step))
        let attempts = statement.bind(history.map(\.attempt))
        let details = statement.bind(history.map(\.detail))
        let actors = statement.bind(history.map(\.actor))
        var orderStatement = ""
        if let orderStatus = write.orderStatus {
            let order = statement.bind(write.data.orderId)
            let status = statement.bind(orderStatus)
            let subtotal = statement.bind(write.data.subtotalCents)
            let discount = statement.bind(write.data.discountCents)
            let total = statement.bind(write.data.totalCents)
            orderStatement = """
                ,
                     orders AS (UPDATE orders SET status = \(status), subtotal_cents = \(subtotal), discount_cents = \(discount),
                                total_cents = \(total), updated_at = now() WHERE id = \(order))
                """
        }
        let viewStatement = try orderEventsStatement(write, of: saga, isNew: isNew, into: &statement, on: connection)
        let (outboxStatement, outboxParameters) = try Outbox.insertStatement(write.messages, firstParameter: statement.parameters.count + 1)
        // Nothing reads its result: it goes with the next saga's claim or the COMMIT, in one round trip.
        try connection.send(
            """
            WITH saga AS (\(sagaStatement)),
                 history AS (INSERT INTO saga_history (saga_id, event, step, attempt, detail, actor)
                             SELECT \(id), * FROM unnest(\(events)::text[], \(steps)::text[], \(attempts)::int[], \(details)::text[], \(actors)::text[])),
                 outbox AS (\(outboxStatement))\(orderStatement)\(viewStatement)
            SELECT 1
            """,
            statement.parameters + outboxParameters)
        // A new row starts at version 0 (the column's default).
        return SagaStateCache.Entry(version: isNew ? 0 : saga.version + (changed ? 1 : 0), state: write.state, data: write.data)
    }

    /// The input's order events, appended to `order_events` and folded into the order's row of
    /// `order_views` (read and locked first, unless the order is new): CTEs for the saga's
    /// statement, or nothing when it emitted none.
    private func orderEventsStatement(
        _ write: SagaWrite, of saga: LoadedSaga, isNew: Bool, into statement: inout StatementBuilder, on connection: PostgresConnection
    ) throws -> String {
        guard !write.orderEvents.isEmpty else { return "" }
        let orderID = write.data.orderId
        var view = isNew ? nil : try connection.query("SELECT view::text AS view FROM order_views WHERE id = $1 FOR UPDATE", [orderID])
            .first.map { try $0.json("view", as: OrderReadModel.self) }
        for recorded in write.orderEvents { view = OrderProjection.apply(recorded.type, recorded.event, to: view) }
        let order = statement.bind(orderID)
        let types = statement.bind(write.orderEvents.map(\.type))
        let bodies = statement.bind(write.orderEvents.map(\.body))
        var sql = """
            ,
                 logged AS (INSERT INTO order_events (order_id, type, body) SELECT \(order)::uuid, t, b::jsonb FROM unnest(\(types)::text[], \(bodies)::text[]) AS e(t, b))
            """
        if let view { sql += ",\n     viewed AS (\(try Self.upsertView(view, into: &statement)))" }
        return sql
    }

    /// An order's view written whole: inserted, or replacing the one there.
    private static func upsertView(_ view: OrderReadModel, into statement: inout StatementBuilder) throws -> String {
        """
        INSERT INTO order_views (id, number, owner, customer_id, status, created_at, updated_at, view)
        VALUES (\(statement.bind(view.id))::uuid, \(statement.bind(view.number)), \(statement.bind(view.owner)), \(statement.bind(view.customerId)),
                \(statement.bind(view.status)), \(statement.bind(view.createdAt))::timestamptz, \(statement.bind(view.updatedAt))::timestamptz,
                \(statement.bind(try PostgresJSON(view)))::jsonb)
        ON CONFLICT (id) DO UPDATE SET number = EXCLUDED.number, owner = EXCLUDED.owner, customer_id = EXCLUDED.customer_id,
            status = EXCLUDED.status, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at, view = EXCLUDED.view
        """
    }

    // MARK: Reads

    /// From the read model (`order_views`), with its sagas' live status beside it.
    func order(_ lookup: OrderLookup, owner: String?) async throws -> OrderView? {
        let (condition, key): (String, any PostgresParameter) = switch lookup {
        case .id(let id): ("v.id = $1", id)
        case .number(let number): ("v.number = $1", number)
        }
        let row = try await pool.query(
            "\(Self.orderSelect()) WHERE \(condition) AND ($2::text IS NULL OR v.owner = $2)", [key, owner]).first
        return try row.map(Self.orderView)
    }

    /// Newest first through order_views_created (or order_views_customer, order_views_owner when those narrow it).
    func orders(_ query: OrderQuery) async throws -> OrderListView {
        var statement = StatementBuilder()
        var conditions: [String] = []
        if let owner = query.owner { conditions.append("v.owner = \(statement.bind(owner))") }
        if let customer = query.customer { conditions.append("v.customer_id = \(statement.bind(customer))") }
        if let status = query.status { conditions.append("v.status = \(statement.bind(status))") }
        // Exact to the microsecond: an integer times an interval, not a float of seconds.
        func at(_ microseconds: Int64) -> String {
            "(timestamptz 'epoch' + \(statement.bind(microseconds))::bigint * interval '1 microsecond')"
        }
        if let from = query.createdFrom { conditions.append("v.created_at >= \(at(from))") }
        if let before = query.createdBefore { conditions.append("v.created_at < \(at(before))") }
        if let after = query.after {
            conditions.append("(v.created_at, v.id) < (\(at(after.microseconds)), \(statement.bind(after.id.uuidString.lowercased()))::uuid)")
        }
        let limit = statement.bind(query.limit + 1)
        let rows = try await pool.query(
            """
            \(Self.orderSelect(", (extract(epoch FROM v.created_at) * 1000000)::bigint AS position"))
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY v.created_at DESC, v.id DESC LIMIT \(limit)
            """, statement.parameters)
        let page = Array(rows.prefix(query.limit))
        var next: String?
        if rows.count > query.limit, let last = page.last {
            next = ListCursor(order: .orders, microseconds: Int64(try last.int("position")), id: try last.uuid("id")).text
        }
        return OrderListView(orders: try page.map(Self.orderView), nextCursor: next)
    }

    /// An order's view and its sagas' status for ``orderView(_:)``, with `extra` columns.
    private static func orderSelect(_ extra: String = "") -> String {
        """
        SELECT v.id, v.view::text AS view, s.status AS saga_status,
               c.id AS cancel_saga_id, c.status AS cancel_status, c.data->>'cancelReason' AS cancel_reason\(extra)
        FROM order_views v JOIN order_sagas s ON s.order_id = v.id AND s.definition_name = '\(CreateOrderSaga.name)'
        LEFT JOIN order_sagas c ON c.order_id = v.id AND c.definition_name = '\(CreateOrderSaga.cancelName)'
        """
    }

    private static func orderView(_ row: PostgresRow) throws -> OrderView {
        OrderView(
            try row.json("view", as: OrderReadModel.self), sagaStatus: try row.string("saga_status"),
            cancellation: try row.optionalString("cancel_saga_id").map {
                .init(sagaId: $0, sagaStatus: try row.string("cancel_status"), reason: try row.optionalString("cancel_reason") ?? "")
            })
    }

    func saga(_ id: UUID) async throws -> SagaView? {
        let (row, history) = try await pool.withConnection { connection in
            let row = try connection.query(
                """
                SELECT order_id, definition_name, definition_version, status, state::text AS state, data::text AS data, version,
                       \(Self.iso("deadline_at")) AS deadline_at, \(Self.iso("created_at")) AS created_at, \(Self.iso("updated_at")) AS updated_at
                FROM order_sagas WHERE id = $1
                """, [id]).first
            let history = try connection.query(
                "SELECT \(Self.iso("at")) AS at, event, step, attempt, detail, actor FROM saga_history WHERE saga_id = $1 ORDER BY id", [id])
            return (row, history)
        }
        guard let row else { return nil }
        let state = try row.json("state", as: SagaState.self)
        return SagaView(
            id: id.uuidString.lowercased(), orderId: try row.string("order_id"),
            definition: .init(name: try row.string("definition_name"), version: try row.int("definition_version")),
            status: try row.string("status"), failureReason: state.failureReason, deadlineAt: try row.optionalString("deadline_at"),
            steps: state.steps.map { .init(name: $0.name, status: $0.status.rawValue, attempt: $0.attempt, compensationAttempt: $0.compensationAttempt) },
            timeline: try history.map { entry in
                .init(at: try entry.string("at"), event: try entry.string("event"), step: try entry.optionalString("step"),
                      attempt: try entry.optionalInt("attempt"), detail: try entry.optionalString("detail"),
                      actor: try entry.optionalString("actor"))
            },
            createdAt: try row.string("created_at"), updatedAt: try row.string("updated_at"), version: try row.int("version"),
            data: try row.json("data", as: JSONValue.self))
    }

    /// Keyset pagination over order_sagas_created (newest first; with a status, order_sagas_status),
    /// or over the few RUNNING and COMPENSATING sagas for the idle list: each page reads about
    /// `limit` rows, however deep it is.
    func sagas(_ query: SagaQuery) async throws -> SagaListView {
        var statement = StatementBuilder()
        var conditions: [String] = []
        let inFlight = "status IN ('RUNNING', 'COMPENSATING')"
        if let idleFor = query.idleFor {
            let statuses = query.status.map { [$0.rawValue] } ?? [SagaStatus.running.rawValue, SagaStatus.compensating.rawValue]
            conditions.append("status = ANY(\(statement.bind(statuses))::text[])")
            conditions.append("updated_at <= now() - make_interval(secs => \(statement.bind(idleFor.inSeconds)))")
        } else if let status = query.status {
            conditions.append("status = \(statement.bind(status.rawValue))")
        }
        if let type = query.type { conditions.append("definition_name = \(statement.bind(type))") }
        if let step = query.step { conditions.append("\(inFlight) AND state->'deadline'->>'step' = \(statement.bind(step))") }
        if let olderThan = query.olderThan {
            conditions.append("created_at <= now() - make_interval(secs => \(statement.bind(olderThan.inSeconds)))")
        }
        let (column, direction) = query.order == .newest ? ("created_at", "DESC") : ("updated_at", "ASC")
        if let after = query.after {
            // Exact to the microsecond: an integer times an interval, not a float of seconds.
            let at = "(timestamptz 'epoch' + \(statement.bind(after.microseconds))::bigint * interval '1 microsecond')"
            conditions.append("(\(column), id) \(direction == "DESC" ? "<" : ">") (\(at), \(statement.bind(after.id.uuidString.lowercased()))::uuid)")
        }
        let limit = statement.bind(query.limit + 1)
        let rows = try await pool.query(
            """
            SELECT id, order_id, definition_name, status, CASE WHEN \(inFlight) THEN state->'deadline'->>'step' END AS step,
                   \(Self.iso("created_at")) AS created_at, \(Self.iso("updated_at")) AS updated_at,
                   (extract(epoch FROM \(column)) * 1000000)::bigint AS position
            FROM order_sagas \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY \(column) \(direction), id \(direction) LIMIT \(limit)
            """, statement.parameters)
        let page = Array(rows.prefix(query.limit))
        var next: String?
        if rows.count > query.limit, let last = page.last {
            next = ListCursor(order: query.order, microseconds: Int64(try last.int("position")), id: try last.uuid("id")).text
        }
        var items: [SagaListView.Item] = []
        for row in page {
            items.append(.init(
                id: try row.string("id"), orderId: try row.string("order_id"), type: try row.string("definition_name"),
                status: try row.string("status"), step: try row.optionalString("step"),
                createdAt: try row.string("created_at"), updatedAt: try row.string("updated_at")))
        }
        return SagaListView(sagas: items, nextCursor: next)
    }

    /// Reads only the window's sagas, through order_sagas_created.
    func stats(window: Duration, label: String) async throws -> SagaStatsView {
        let seconds = window.inSeconds
        return try await pool.withConnection { connection in
            var byStatus = Dictionary(uniqueKeysWithValues: SagaStatus.allCases.map { ($0.rawValue, 0) })
            var waiting: [SagaStatsView.Waiting] = []
            let rows = try connection.query(
                """
                SELECT status, state->'deadline'->>'step' AS step, state->'deadline'->>'phase' AS phase, count(*) AS n
                FROM order_sagas WHERE created_at >= now() - make_interval(secs => $1)
                GROUP BY 1, 2, 3
                """, [seconds])
            for row in rows {
                let status = try row.string("status")
                let count = try row.int("n")
                byStatus[status, default: 0] += count
                if status == SagaStatus.running.rawValue || status == SagaStatus.compensating.rawValue,
                   let step = try row.optionalString("step"), let phase = try row.optionalString("phase") {
                    waiting.append(.init(step: step, phase: phase, count: count))
                }
            }
            let ended = try connection.query(
                """
                SELECT count(*) AS n,
                       coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)), 0) * 1000 AS p50,
                       coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM updated_at - created_at)), 0) * 1000 AS p99
                FROM order_sagas WHERE created_at >= now() - make_interval(secs => $1) AND status IN ('COMPLETED', 'COMPENSATED', 'FAILED')
                """, [seconds]).first!
            return SagaStatsView(
                window: label, started: byStatus.values.reduce(0, +), byStatus: byStatus,
                waiting: SagaStatsView.sortedWaiting(waiting),
                ended: .init(count: try ended.int("n"), p50Ms: try ended.double("p50"), p99Ms: try ended.double("p99")))
        }
    }

    /// Every figure uses a partial or status index, not a table scan.
    func gauges() async throws -> (sagas: [SagaStatus: Int], outboxBacklog: Int, oldestIdleSeconds: Double) {
        try await pool.withConnection { connection in
            var sagas: [SagaStatus: Int] = [:]
            for row in try connection.query(
                "SELECT status, count(*) AS n FROM order_sagas WHERE status IN ('RUNNING', 'COMPENSATING', 'FAILED') GROUP BY status") {
                if let status = SagaStatus(rawValue: try row.string("status")) { sagas[status] = try row.int("n") }
            }
            let backlog = try connection.query("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL").first!.int("n")
            let idle = try connection.query(
                """
                SELECT coalesce(extract(epoch FROM now() - min(updated_at)), 0)::float8::text AS s
                FROM order_sagas WHERE status IN ('RUNNING', 'COMPENSATING')
                """).first!.string("s")
            return (sagas, backlog, Double(idle) ?? 0)
        }
    }

    func sagasInFlight() async throws -> Int {
        try await pool.query("SELECT count(*) AS n FROM order_sagas WHERE status IN ('RUNNING', 'COMPENSATING')").first!.int("n")
    }

    func isAvailable() async -> Bool {
        await pool.answers(within: .probeLimit)
    }

    static func iso(_ column: String) -> String {
        "to_char(\(column), 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }
}

/// Numbers a statement's parameters as they are bound, instead of `$\(h + 2)` arithmetic.
struct StatementBuilder {
    private(set) var parameters: [any PostgresParameter] = []

    /// Binds `value` and returns its placeholder (`$3`).
    mutating func bind(_ value: any PostgresParameter) -> String {
        parameters.append(value)
        return "$\(parameters.count)"
    }
}

import Foundation
import Postgres

/// The six databases of one OrderSaga system, as the invariants read them.
public struct SystemDatabases: Sendable {
    public var order, catalog, promotion, identity, cart, notification: PostgresPool

    public init(order: PostgresPool, catalog: PostgresPool, promotion: PostgresPool, identity: PostgresPool, cart: PostgresPool, notification: PostgresPool) {
        self.order = order
        self.catalog = catalog
        self.promotion = promotion
        self.identity = identity
        self.cart = cart
        self.notification = notification
    }

    public static let names = ["order", "catalog", "promotion", "identity", "cart", "notification"]

    /// The pools of command-line entries `NAME=URL` (`--database order=postgresql://…`), one for
    /// each of the six databases; an entry that is not one, or a database left out, is an error
    /// naming it.
    public init(arguments: [String], size: Int = 2) throws {
        var urls: [String: String] = [:]
        for entry in arguments {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, Self.names.contains(parts[0]) else {
                throw InvariantError("--database \(entry): expected NAME=URL with NAME one of \(Self.names.joined(separator: ", "))")
            }
            urls[parts[0]] = parts[1]
        }
        try self.init(urls: urls, size: size)
    }

    /// The pools of `urls`, by database name (order, catalog, promotion, identity, cart, notification).
    public init(urls: [String: String], size: Int = 2) throws {
        func pool(_ name: String) throws -> PostgresPool {
            guard let url = urls[name] else { throw InvariantError("no URL for the \(name) database: give --database \(name)=URL") }
            return PostgresPool(conninfo: url, size: size)
        }
        self.init(
            order: try pool("order"), catalog: try pool("catalog"), promotion: try pool("promotion"),
            identity: try pool("identity"), cart: try pool("cart"), notification: try pool("notification"))
    }
}

extension SystemDatabases {
    /// The pool of the database named `name` (order, catalog, …).
    public func pool(_ name: String) -> PostgresPool? {
        ["order": order, "catalog": catalog, "promotion": promotion, "identity": identity, "cart": cart, "notification": notification][name]
    }
}

public struct InvariantError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// DESIGN.md's invariants (and that the orders' read model agrees with them), checked across the
/// six databases: one line per violation, none when they all hold. Both the test suite and
/// `saga-chaos` check a system with them.
public enum SagaInvariants {
    /// `initialStock`: each product's stock before the sagas checked. `since` (a timestamp by the
    /// order database's clock): only sagas created then or later, and their effects, are checked;
    /// `nil` checks every saga.
    public static func violations(in databases: SystemDatabases, initialStock: [String: Int], since: String? = nil) async throws -> [String] {
        var problems: [String] = []
        let order = databases.order
        let sagas = try await order.query(
            """
            SELECT s.id::text AS id, s.status, o.total_cents, o.status AS order_status, o.cart_id, o.items::text AS items,
                   c.id::text AS cancel_id, c.status AS cancel_status
            FROM order_sagas s JOIN orders o ON o.id = s.order_id
            LEFT JOIN order_sagas c ON c.order_id = s.order_id AND c.definition_name = 'cancel_order'
            WHERE s.definition_name = 'create_order' AND s.created_at >= coalesce($1::timestamptz, '-infinity')
            """, [since])
        var status: [String: String] = [:]
        // Out of scope: sagas created before `since`, whose effects the checks below leave alone.
        func inScope(_ id: String) -> Bool { since == nil || status[id] != nil }
        /// The cancel_order saga of each create_order saga that was confirmed, then cancelled.
        var cancelledBy: [String: String] = [:]
        var totals: [String: Int?] = [:]
        var quantities: [String: [String: Int]] = [:]
        struct Item: Decodable { var productId: String; var quantity: Int }
        for row in sagas {
            let id = try row.string("id")
            status[id] = try row.string("status")
            totals[id] = try row.optionalInt("total_cents")
            for item in try row.json("items", as: [Item].self) { quantities[id, default: [:]][item.productId, default: 0] += item.quantity }
            // 1. Every saga ends, and its order says so.
            // A saga parked FAILED after its pivot leaves a CONFIRMED order; before it, a FAILED one.
            var expectedOrder = ["COMPLETED": ["CONFIRMED"], "COMPENSATED": ["CANCELLED"], "FAILED": ["FAILED", "CONFIRMED"]][status[id]!]
            // A confirmed order cancelled later: its cancel_order saga ends, and the order is CANCELLED.
            if let cancel = try row.optionalString("cancel_id") {
                let cancelStatus = try row.string("cancel_status")
                if cancelStatus != "COMPLETED" { problems.append("cancel_order saga \(cancel) of saga \(id) did not finish: \(cancelStatus)") }
                if status[id] != "COMPLETED" { problems.append("saga \(id) is \(status[id]!) but has a cancel_order saga \(cancel)") }
                cancelledBy[id] = cancel
                expectedOrder = cancelStatus == "COMPLETED" ? ["CANCELLED"] : ["CONFIRMED"]
            }
            if expectedOrder == nil { problems.append("saga \(id) did not end: \(status[id]!)") }
            if let expectedOrder, try !expectedOrder.contains(row.string("order_status")) {
                problems.append("saga \(id) is \(status[id]!) but its order is \(try row.string("order_status"))")
            }
        }
        // What stands: COMPLETED and not cancelled since (their effects are checked as undone).
        let completed = Set(status.filter { $0.value == "COMPLETED" && cancelledBy[$0.key] == nil }.keys)

        // 2. Stock = initial − quantities of COMPLETED orders; reservations held exactly for them.
        // Both sides net of the changes made through the catalog's REST API (stock_adjustments).
        let catalog = databases.catalog
        var expectedStock = initialStock
        for id in completed { for (product, quantity) in quantities[id] ?? [:] { expectedStock[product, default: 0] -= quantity } }
        for (product, stock) in try await self.stock(in: databases) where stock != expectedStock[product] {
            problems.append("product \(product): stock \(stock) (net of the catalog API's adjustments), expected \(expectedStock[product] ?? -1)")
        }
        let reserved = Set(try await catalog.query("SELECT saga_id FROM reservations WHERE status = 'RESERVED'").map { try $0.string("saga_id") })
            .filter(inScope)
        if reserved != completed { problems.append("reservations held for \(reserved.sorted()), completed sagas \(completed.sorted())") }

        // 3. Redemptions only for COMPLETED orders, and never over a coupon's limit, nor its limit per customer.
        let promotion = databases.promotion
        for row in try await promotion.query("SELECT saga_id FROM redemptions WHERE status = 'REDEEMED'") {
            let id = try row.string("saga_id")
            guard inScope(id) else { continue }
            if !completed.contains(id) { problems.append("coupon redeemed for saga \(id), which is \(status[id] ?? "unknown")") }
        }
        for row in try await promotion.query(
            """
            SELECT c.code, c.redeemed_count, c.max_redemptions,
                   (SELECT count(*) FROM redemptions r WHERE r.code = c.code AND r.status = 'REDEEMED') AS held
            FROM coupons c
            """) {
            if try row.int("redeemed_count") != row.int("held") || row.int("redeemed_count") > row.int("max_redemptions") {
                problems.append("coupon \(try row.string("code")): count \(try row.int("redeemed_count")), redemptions \(try row.int("held"))")
            }
        }
        for row in try await promotion.query(
            """
            SELECT r.code, r.customer_id, count(*) AS n, c.max_per_customer FROM redemptions r JOIN coupons c ON c.code = r.code
            WHERE r.status = 'REDEEMED' AND r.customer_id IS NOT NULL AND c.max_per_customer IS NOT NULL
            GROUP BY r.code, r.customer_id, c.max_per_customer HAVING count(*) > c.max_per_customer
            """) {
            problems.append("coupon \(try row.string("code")): customer \(try row.string("customer_id")) redeemed it \(try row.int("n")) times, limit \(try row.int("max_per_customer"))")
        }

        // 4. Exactly one captured charge per COMPLETED order, equal to its total; none for the others.
        let identity = databases.identity
        var captured: [String: Int] = [:]
        for row in try await identity.query("SELECT saga_id, amount_cents FROM charges WHERE status = 'CAPTURED'") where inScope(try row.string("saga_id")) {
            captured[try row.string("saga_id")] = try row.int("amount_cents")
        }
        for id in completed where captured[id] == nil || captured[id] != totals[id] ?? nil {
            problems.append("saga \(id): captured \(captured[id].map(String.init) ?? "nothing"), order total \(String(describing: totals[id] ?? nil))")
        }
        for id in captured.keys where !completed.contains(id) { problems.append("saga \(id) is \(status[id] ?? "unknown") but its charge is captured") }

        // 5. A cart is CONVERTED exactly when its order COMPLETED (rebuilt from its events).
        let cart = databases.cart
        let converted = Set(try await cart.query(
            """
            SELECT DISTINCT ON (cart_id) cart_id, type, saga_id FROM cart_events ORDER BY cart_id, seq DESC
            """).compactMap { row -> String? in try row.string("type") == "CART_CONVERTED" ? try row.string("saga_id") : nil }).filter(inScope)
        if converted != completed { problems.append("carts converted by \(converted.sorted()), completed sagas \(completed.sorted())") }

        // 6. Exactly one confirmation per COMPLETED order (also those cancelled since), and exactly
        // one refund notice per cancelled confirmed order, from its cancel_order saga.
        let notification = databases.notification
        let confirmations = try await notification.query(
            "SELECT saga_id, count(*) AS n FROM notifications WHERE kind = 'ORDER_CONFIRMED' GROUP BY saga_id")
        var confirmed: [String: Int] = [:]
        for row in confirmations where inScope(try row.string("saga_id")) { confirmed[try row.string("saga_id")] = try row.int("n") }
        if Set(confirmed.keys) != completed.union(cancelledBy.keys) || confirmed.values.contains(where: { $0 != 1 }) {
            problems.append("confirmations \(confirmed), completed sagas \(completed.union(cancelledBy.keys).sorted())")
        }
        let cancelSagas = Set(cancelledBy.values)
        var refundNotices: [String: Int] = [:]
        for row in try await notification.query(
            "SELECT saga_id, count(*) AS n FROM notifications WHERE kind = 'ORDER_REFUNDED' GROUP BY saga_id") {
            let id = try row.string("saga_id")
            if since == nil || cancelSagas.contains(id) { refundNotices[id] = try row.int("n") }
        }
        if Set(refundNotices.keys) != cancelSagas { problems.append("refund notices \(refundNotices), cancel_order sagas \(cancelSagas.sorted())") }

        // 7. Compensations ran in reverse order of the steps that succeeded.
        let history = try await order.query(
            """
            SELECT saga_id::text AS saga_id, event, step FROM saga_history
            WHERE event IN ('step_succeeded', 'step_timed_out', 'step_compensated') ORDER BY id
            """)
        var forward: [String: [String]] = [:]
        var undone: [String: [String]] = [:]
        for row in history {
            let id = try row.string("saga_id")
            let step = try row.string("step")
            if try row.string("event") == "step_compensated" { undone[id, default: []].append(step) } else { forward[id, default: []].append(step) }
        }
        for (id, steps) in undone where status[id] == "COMPENSATED" {
            let expected = Array((forward[id] ?? []).filter { $0 != "notify" }.reversed())
            if steps != expected { problems.append("saga \(id) compensated \(steps), expected \(expected)") }
        }
        // 8. The orders API's read model agrees with the orders: each order has its view, with the
        // same status and total (both are written in the transaction that ends the saga).
        for row in try await order.query(
            """
            SELECT o.id::text AS id, o.status, v.status AS view_status, o.total_cents, (v.view->>'totalCents')::bigint AS view_total,
                   v.id IS NOT NULL AS viewed
            FROM orders o JOIN order_sagas s ON s.order_id = o.id AND s.definition_name = 'create_order'
            LEFT JOIN order_views v ON v.id = o.id
            WHERE s.created_at >= coalesce($1::timestamptz, '-infinity')
            """, [since]) {
            let id = try row.string("id")
            guard try row.bool("viewed") else { problems.append("order \(id) has no view in order_views"); continue }
            let (status, viewStatus) = (try row.string("status"), try row.string("view_status"))
            let (total, viewTotal) = (try row.optionalInt("total_cents"), try row.optionalInt("view_total"))
            if status != viewStatus || total != viewTotal {
                func text(_ cents: Int?) -> String { cents.map(String.init) ?? "none" }
                problems.append("order \(id) is \(status) (total \(text(total))) but its view says \(viewStatus) (total \(text(viewTotal)))")
            }
        }

        return problems
    }

    /// Each product's stock net of the changes made through the catalog's REST API (a delivery, a
    /// stock count): what only reservations and releases move, so a snapshot of it stays
    /// comparable whenever an operator adjusts stock.
    public static func stock(in databases: SystemDatabases) async throws -> [String: Int] {
        var stock: [String: Int] = [:]
        let rows = try await databases.catalog.query(
            """
            SELECT p.id, p.stock - coalesce((SELECT sum(a.delta) FROM stock_adjustments a WHERE a.product_id = p.id), 0)::int AS stock
            FROM products p
            """)
        for row in rows { stock[try row.string("id")] = try row.int("stock") }
        return stock
    }
}

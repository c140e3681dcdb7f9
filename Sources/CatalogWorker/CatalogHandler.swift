import CheckoutContracts
import Messaging
import Postgres

/// Reserves all lines of an order or none, and releases them.
///
/// Each saga has at most one reservation: a repeated reserve (a retry) answers with the same
/// reservation, and a release that arrives before its reserve leaves a RELEASED record so the
/// late reserve has no effect.
public struct CatalogHandler: CommandHandler {
    public init() {}

    public var commandTypes: Set<String> { CatalogContract.commands }

    static let record = SagaEffectRecord(table: "reservations", done: "RESERVED", undone: "RELEASED")
    static let products = SharedRows(table: "products", key: "id", recordedIn: "reservation_lines", column: "product_id")

    public func handle(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        try Self.record.handle(
            command, compensating: command.type == CatalogContract.releaseInventory, in: transaction,
            perform: { try reserve(command, in: transaction) },
            again: { try reservation(of: command.sagaID, in: transaction) },
            undo: { sagaID in
                try Self.products.lock([], recordedBy: [sagaID], in: transaction)
                try transaction.send(
                    """
                    UPDATE products SET stock = products.stock + l.quantity
                    FROM reservation_lines l WHERE l.saga_id = $1 AND l.product_id = products.id
                    """, [sagaID])
            })
    }

    /// The products of every reservation and release of a batch, locked in id order.
    public func lockShared(by commands: [IncomingCommand], in transaction: PostgresConnection) throws {
        try Self.products.lock(
            try commands.filter { $0.type == CatalogContract.reserveInventory }
                .flatMap { try $0.payload(CatalogContract.ReserveInventory.self).items.map(\.productId) },
            recordedBy: try commands.filter { $0.type == CatalogContract.releaseInventory }.map(SagaEffectRecord.effectSagaID), in: transaction)
    }

    private func reserve(_ command: IncomingCommand, in transaction: PostgresConnection) throws -> CommandOutcome {
        let request = try command.payload(CatalogContract.ReserveInventory.self)
        guard !request.items.isEmpty, request.items.allSatisfy({ $0.quantity > 0 }) else {
            throw MalformedMessage("reserve_inventory needs at least one item with a positive quantity")
        }
        var wanted: [String: Int] = [:]
        for item in request.items { wanted[item.productId, default: 0] += item.quantity }
        let ids = wanted.keys.sorted()
        // Locked in id order, so two reservations of the same products cannot deadlock.
        let rows = try transaction.query(
            "SELECT id, price_cents, stock FROM products WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE", [ids])
        var products: [String: (price: Int, stock: Int)] = [:]
        for row in rows { products[try row.string("id")] = (try row.int("price_cents"), try row.int("stock")) }
        if let unknown = ids.first(where: { products[$0] == nil }) {
            return .refused(reason: "unknown_product", detail: "no product \(unknown)")
        }
        let short = ids.filter { wanted[$0]! > products[$0]!.stock }
        if !short.isEmpty {
            let detail = short.map { "\($0): \(wanted[$0]!) requested, \(products[$0]!.stock) in stock" }.joined(separator: "; ")
            return .refused(reason: "out_of_stock", detail: detail)
        }
        let quantities = ids.map { wanted[$0]! }
        // Writes nobody reads back: they go with the reply's insert and the COMMIT, in one round trip.
        try transaction.send(
            """
            UPDATE products SET stock = stock - w.quantity
            FROM unnest($1::text[], $2::int[]) AS w(id, quantity) WHERE products.id = w.id
            """, [ids, quantities])
        try transaction.send("INSERT INTO reservations (saga_id, status) VALUES ($1, 'RESERVED')", [command.sagaID])
        try transaction.send(
            """
            INSERT INTO reservation_lines (saga_id, product_id, quantity, unit_price_cents)
            SELECT $1, w.id, w.quantity, p.price_cents
            FROM unnest($2::text[], $3::int[]) AS w(id, quantity) JOIN products p ON p.id = w.id
            """, [command.sagaID, ids, quantities])
        // The prices just locked and written: no need to read the lines back.
        let lines = ids.map { CatalogContract.Reserved.Line(productId: $0, quantity: wanted[$0]!, unitPriceCents: products[$0]!.price) }
        return .succeeded(CatalogContract.Reserved(lines: lines, subtotalCents: lines.reduce(0) { $0 + $1.quantity * $1.unitPriceCents }))
    }

    private func reservation(of sagaID: String, in transaction: PostgresConnection) throws -> CatalogContract.Reserved {
        let lines = try transaction.query(
            "SELECT product_id, quantity, unit_price_cents FROM reservation_lines WHERE saga_id = $1 ORDER BY product_id",
            [sagaID]
        ).map { row in
            CatalogContract.Reserved.Line(productId: try row.string("product_id"), quantity: try row.int("quantity"), unitPriceCents: try row.int("unit_price_cents"))
        }
        return CatalogContract.Reserved(lines: lines, subtotalCents: lines.reduce(0) { $0 + $1.quantity * $1.unitPriceCents })
    }
}

import Postgres

/// Rows that the commands of many sagas change (products, coupons, carts), locked in one fixed
/// order by every transaction that changes them, so two transactions wait for each other instead
/// of deadlocking: a batch locks all of its rows before its first command (group commit), and a
/// compensation locks those its saga's effect recorded.
public struct SharedRows: Sendable {
    /// The table and its key column: constants of the worker's code, never input.
    let table: String
    let key: String
    /// The lock order (`id`, or `cart_id, seq` for an event log).
    let order: String
    /// Where a saga's effect recorded the keys it changed: a table with `saga_id` and this column.
    let recordTable: String
    let recordColumn: String

    public init(table: String, key: String, order: String? = nil, recordedIn recordTable: String, column recordColumn: String) {
        self.table = table
        self.key = key
        self.order = order ?? key
        self.recordTable = recordTable
        self.recordColumn = recordColumn
    }

    /// Locks the rows with one of `keys` and those the effects of `sagas` recorded, in order.
    public func lock(_ keys: [String], recordedBy sagas: [String] = [], in transaction: PostgresConnection) throws {
        guard !keys.isEmpty || !sagas.isEmpty else { return }
        try transaction.query(
            """
            SELECT 1 FROM \(table)
            WHERE \(key) IN (SELECT unnest($1::text[]) UNION SELECT \(recordColumn) FROM \(recordTable) WHERE saga_id = ANY($2::text[]))
            ORDER BY \(order) FOR UPDATE
            """, [keys, sagas])
    }
}

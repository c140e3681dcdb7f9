import Foundation

/// The rows of one statement's result, copied out of libpq before its result was freed.
public struct PostgresRows: Sendable, Sequence {
    public let columns: [String]
    public let values: [[String?]]
    /// Rows the statement changed (`UPDATE`, `INSERT`, `DELETE`), from `PQcmdTuples`.
    public let affectedRows: Int

    public var count: Int { values.count }
    public var first: PostgresRow? { values.isEmpty ? nil : PostgresRow(columns: columns, values: values[0]) }
    public var isEmpty: Bool { values.isEmpty }

    public func makeIterator() -> some IteratorProtocol<PostgresRow> {
        values.lazy.map { PostgresRow(columns: columns, values: $0) }.makeIterator()
    }
}

/// One row, read by column name.
public struct PostgresRow: Sendable {
    let columns: [String]
    let values: [String?]

    func raw(_ column: String) throws -> String? {
        guard let index = columns.firstIndex(of: column) else {
            throw PostgresError.decoding("no column \"\(column)\" in result (\(columns.joined(separator: ", ")))")
        }
        return values[index]
    }

    private func required(_ column: String) throws -> String {
        guard let value = try raw(column) else { throw PostgresError.decoding("column \"\(column)\" is NULL") }
        return value
    }

    public func isNull(_ column: String) throws -> Bool { try raw(column) == nil }

    public func string(_ column: String) throws -> String { try required(column) }
    public func optionalString(_ column: String) throws -> String? { try raw(column) }

    public func int(_ column: String) throws -> Int {
        let text = try required(column)
        guard let value = Int(text) else { throw PostgresError.decoding("column \"\(column)\": \"\(text)\" is not an integer") }
        return value
    }

    public func optionalInt(_ column: String) throws -> Int? {
        try raw(column) == nil ? nil : try int(column)
    }

    public func double(_ column: String) throws -> Double {
        let text = try required(column)
        guard let value = Double(text) else { throw PostgresError.decoding("column \"\(column)\": \"\(text)\" is not a number") }
        return value
    }

    public func bool(_ column: String) throws -> Bool {
        let text = try required(column)
        switch text {
        case "t", "true": return true
        case "f", "false": return false
        default: throw PostgresError.decoding("column \"\(column)\": \"\(text)\" is not a boolean")
        }
    }

    public func uuid(_ column: String) throws -> UUID {
        let text = try required(column)
        guard let value = UUID(uuidString: text) else { throw PostgresError.decoding("column \"\(column)\": \"\(text)\" is not a UUID") }
        return value
    }

    /// A `float8` seconds-since-1970 column (select `extract(epoch from t)::float8`).
    public func date(_ column: String) throws -> Date { Date(timeIntervalSince1970: try double(column)) }

    /// A `json`/`jsonb` column decoded into `T`.
    public func json<T: Decodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        let text = try required(column)
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw PostgresError.decoding("column \"\(column)\" is not a valid \(T.self): \(error)")
        }
    }
}

/// An error from PostgreSQL or from libpq, with what failed and the server's own words.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable, Equatable {
        case connectionFailed
        case queryFailed
        case connectionClosed
        case decoding
        case migration
    }

    private let code: Code
    /// The server's or libpq's message.
    public let message: String
    /// The SQLSTATE of a server error (`23505` for a unique violation), when the server sent one.
    public let sqlState: String?
    /// The statement that failed, when one did.
    public let query: String?

    private init(code: Code, message: String, sqlState: String? = nil, query: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.query = query
    }

    static func connectionFailed(_ message: String) -> Self { .init(code: .connectionFailed, message: message) }
    static func queryFailed(_ message: String, sqlState: String?, query: String) -> Self {
        .init(code: .queryFailed, message: message, sqlState: sqlState, query: query)
    }
    static func connectionClosed(_ message: String) -> Self { .init(code: .connectionClosed, message: message) }
    static func decoding(_ message: String) -> Self { .init(code: .decoding, message: message) }
    /// A migration could not be applied, or an applied one was changed.
    public static func migration(_ message: String) -> Self { .init(code: .migration, message: message) }

    /// True when the connection itself failed (server gone, network), not the statement.
    public var isConnectionError: Bool { code == .connectionFailed || code == .connectionClosed }
    /// True when the server cannot be used at all right now: the connection failed, or the server
    /// is starting, shutting down or refusing connections (SQLSTATE classes 08 and 57).
    public var isUnavailable: Bool {
        isConnectionError || sqlState?.hasPrefix("08") == true || sqlState?.hasPrefix("57") == true
    }
    /// True for a unique-constraint violation (SQLSTATE 23505).
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// True when a statement names a table the database does not have (SQLSTATE 42P01): its
    /// migrations have not been applied.
    public var isUndefinedTable: Bool { sqlState == "42P01" }

    public var description: String {
        var text: String
        switch code {
        case .connectionFailed: text = "PostgreSQL connection failed: \(message)"
        case .connectionClosed: text = "PostgreSQL connection lost: \(message)"
        case .queryFailed: text = "PostgreSQL query failed: \(message)"
        case .decoding: text = "PostgreSQL value could not be decoded: \(message)"
        case .migration: text = "migration failed: \(message)"
        }
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        return text
    }
}

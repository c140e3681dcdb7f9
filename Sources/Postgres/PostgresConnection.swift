private import CLibPQ
import Foundation

/// One libpq connection. Every call blocks, so it is only ever used on its own thread
/// (see ``PostgresPool``), never on Swift's cooperative thread pool.
///
/// `@unchecked Sendable`: the pool hands a connection to one borrower at a time and runs that
/// borrower's closure on the connection's own thread, so the `PGconn` is never used by two
/// threads at once.
public final class PostgresConnection: @unchecked Sendable {
    private var handle: OpaquePointer?
    private let conninfo: String
    /// Statements prepared on this connection, by SQL text: parsed and planned once, not per call.
    private var prepared: [String: String] = [:]
    /// More distinct statements than this (generated SQL) run unprepared rather than pile up.
    private static let maxPrepared = 256
    /// A transaction was begun and BEGIN not sent yet: it goes with the first statement, in one
    /// round trip (libpq pipeline mode), instead of waiting for the server on its own.
    private var beginPending = false
    /// BEGIN went to the server and neither COMMIT nor ROLLBACK since.
    private var inTransaction = false
    /// Statements of this transaction that go with its next statement or its COMMIT (``send(_:_:)``).
    private var queued: [Statement] = []

    /// What the server shows for this connection (`pg_stat_activity.application_name`).
    private let applicationName: String?

    /// Opens a connection. `conninfo` is a libpq connection string or URI
    /// (`postgresql://user:password@127.0.0.1:5432/db`); `applicationName` names it to the server
    /// (`pg_stat_activity`), unless `conninfo` names it.
    public init(conninfo: String, applicationName: String? = nil) throws {
        self.conninfo = conninfo
        self.applicationName = applicationName
        try open()
    }

    /// What every connection gets unless its conninfo says otherwise. A connection attempt gives
    /// up after 10 s: a server that accepts and never answers (stopped with SIGSTOP, or its host
    /// overloaded) would otherwise hold the connection's thread for as long as it lasts, and a host
    /// that does not answer for the kernel's two minutes of SYN retries. TCP keepalives find a
    /// connection whose peer vanished (a crashed host, a lost route) in about a minute, not hours.
    static let defaultParameters: [(keyword: String, value: String)] = [
        ("connect_timeout", "10"), ("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"), ("keepalives_count", "3"),
    ]

    deinit {
        if let handle { PQfinish(handle) }
    }

    private func open() throws {
        if let handle { PQfinish(handle) }
        prepared = [:]
        beginPending = false
        queued = []
        inTransaction = false
        // The defaults first and the conninfo last, expanded (expand_dbname): what it says wins.
        let parameters = Self.defaultParameters + (applicationName.map { [("application_name", $0)] } ?? []) + [("dbname", conninfo)]
        handle = withCStrings(parameters.map(\.keyword)) { keywords in
            withCStrings(parameters.map(\.value)) { values in PQconnectdbParams(keywords, values, 1) }
        }
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            let message = handle.map { Self.errorMessage($0) } ?? "out of memory"
            throw PostgresError.connectionFailed(message)
        }
        // Server NOTICEs (e.g. "relation already exists, skipping") are not errors: keep them off stderr.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        // Every session reads and writes timestamps in UTC, whatever the server's default.
        _ = try query("SET TIME ZONE 'UTC'")
    }

    /// What libpq finds wrong in `conninfo` (a URL or `key=value` string), or `nil` when it reads
    /// it: a setting that can never connect is refused at start, not retried as an outage.
    public static func conninfoProblem(_ conninfo: String) -> String? {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &error) else {
            defer { if let error { PQfreemem(error) } }
            return error.map { String(cString: $0).trimmingCharacters(in: .whitespacesAndNewlines) } ?? "out of memory"
        }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val, let problem = valueProblem(String(cString: keyword), String(cString: value)) { return problem }
            option += 1
        }
        return nil
    }

    /// The values libpq parses but refuses only when it connects, which would otherwise be
    /// taken for a server that does not answer yet.
    private static func valueProblem(_ keyword: String, _ value: String) -> String? {
        let choices: [String: [String]] = [
            "sslmode": ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
            "gssencmode": ["disable", "prefer", "require"],
            "target_session_attrs": ["any", "read-write", "read-only", "primary", "standby", "prefer-standby"],
        ]
        if let allowed = choices[keyword], !allowed.contains(value) {
            return "invalid \(keyword) value \"\(value)\" (one of \(allowed.joined(separator: ", ")))"
        }
        switch keyword {
        case "port":
            for port in value.split(separator: ",", omittingEmptySubsequences: false) where !port.isEmpty {
                guard let number = Int(port), (1...65_535).contains(number) else {
                    return "invalid port \"\(port)\" (a number from 1 to 65535)"
                }
            }
        case "connect_timeout":
            guard let seconds = Int(value), seconds >= 0 else { return "invalid connect_timeout \"\(value)\" (whole seconds)" }
        default:
            break
        }
        return nil
    }

    /// True while the connection to the server is up. Between statements the server sends nothing
    /// unless it is closing the connection (a restart, `pg_terminate_backend`), so a socket with
    /// something to read counts as closed: a connection that died idle in the pool is reopened
    /// before a statement is sent on it, instead of failing that statement.
    public var isHealthy: Bool {
        guard let handle, PQstatus(handle) == CONNECTION_OK else { return false }
        var socket = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        return poll(&socket, 1, 0) == 0
    }

    /// Reconnects after the server closed the connection (restart, `pg_terminate_backend`).
    /// Inside a transaction it still reconnects, then throws: the server rolled the transaction
    /// back, and its next statements must not run outside it.
    public func reconnect() throws {
        let wasInTransaction = inTransaction || beginPending
        try open()
        if wasInTransaction {
            throw PostgresError.connectionClosed("the connection was lost inside a transaction, which the server rolled back")
        }
    }

    /// Runs one parameterized statement. Values are bound to `$1`, `$2`, … and never interpolated.
    /// Each distinct statement is prepared on first use and reused after. Inside a transaction, a
    /// pending BEGIN and the statements ``send(_:_:)`` queued travel with it, in one round trip.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresParameter] = []) throws -> PostgresRows {
        guard let handle else { throw PostgresError.connectionClosed("connection is closed") }
        let statement = try Statement(sql, parameters, prepared: preparedName(for: sql, parameterCount: parameters.count))
        if beginPending || !queued.isEmpty { return try pipeline(then: statement)! }
        roundTrips += 1
        let result: OpaquePointer? = withCStrings(statement.texts) { pointers in
            if let name = statement.name {
                PQexecPrepared(handle, name, Int32(pointers.count), pointers, nil, nil, 0)
            } else {
                PQexecParams(handle, sql, Int32(pointers.count), nil, pointers, nil, nil, 0)
            }
        }
        return try consume(result, query: sql)
    }

    /// Queues a statement whose result nobody reads (the outbox's insert, say) to go to the server
    /// with the transaction's next statement or its COMMIT, in the same round trip. Its error, if
    /// any, is thrown there, and the transaction rolls back as if the statement had failed alone;
    /// a rollback drops it unsent. Outside a transaction it runs at once.
    public func send(_ sql: String, _ parameters: [any PostgresParameter] = []) throws {
        guard beginPending || inTransaction else {
            try query(sql, parameters)
            return
        }
        queued.append(try Statement(sql, parameters, prepared: preparedName(for: sql, parameterCount: parameters.count)))
    }

    /// Round trips to the server so far: a statement alone is one, and so is a pipeline of several.
    public private(set) var roundTrips = 0

    /// A statement ready to send: its parameters as text, and its prepared name if it has one.
    private struct Statement {
        let sql: String
        let texts: [String?]
        let name: String?

        init(_ sql: String, _ parameters: [any PostgresParameter], prepared name: String?) {
            self.sql = sql
            self.texts = parameters.map { $0.postgresText }
            self.name = name
        }
    }

    /// The pending BEGIN, the queued statements and `last` in one pipeline (libpq pipeline mode):
    /// all sent, then all results read. The server skips what follows a failed statement, so the
    /// first failure is thrown, in the order sent; a failure inside the transaction leaves it open
    /// and aborted, for the caller's ROLLBACK, as a statement sent alone would. Returns `last`'s rows.
    private func pipeline(then last: Statement?) throws -> PostgresRows? {
        guard let handle else { throw PostgresError.connectionClosed("connection is closed") }
        var statements = queued
        queued = []
        if beginPending {
            beginPending = false
            inTransaction = true
            statements.insert(Statement("BEGIN", [], prepared: nil), at: 0)
        }
        if let last { statements.append(last) }
        guard !statements.isEmpty else { return nil }
        roundTrips += 1
        guard PQenterPipelineMode(handle) == 1 else { throw PostgresError.connectionClosed(Self.errorMessage(handle)) }
        var sent = true
        for statement in statements where sent {
            sent = withCStrings(statement.texts) { pointers in
                if let name = statement.name {
                    PQsendQueryPrepared(handle, name, Int32(pointers.count), pointers, nil, nil, 0) == 1
                } else {
                    PQsendQueryParams(handle, statement.sql, Int32(pointers.count), nil, pointers, nil, nil, 0) == 1
                }
            }
        }
        sent = sent && PQpipelineSync(handle) == 1
        // Each statement's result is followed by a NULL; the sync point's result ends the pipeline.
        var results: [OpaquePointer?] = []
        for _ in statements {
            let result = sent ? PQgetResult(handle) : nil
            if result != nil { _ = PQgetResult(handle) }
            results.append(result)
        }
        if sent, let sync = PQgetResult(handle) { PQclear(sync) }
        _ = PQexitPipelineMode(handle)
        var unread = 0
        defer { for result in results[unread...] { if let result { PQclear(result) } } }
        var rows: PostgresRows?
        for (result, statement) in zip(results, statements) {
            unread += 1
            rows = try consume(result, query: statement.sql)  // throws the first failure; clears the result
        }
        return last == nil ? nil : rows
    }

    /// The name `sql` is prepared under, preparing it now if needed; `nil` to run it unprepared
    /// (transaction control, or the cache is full).
    private func preparedName(for sql: String, parameterCount: Int) throws -> String? {
        if let name = prepared[sql] { return name }
        guard let handle, parameterCount > 0 || !Self.isTransactionControl(sql), prepared.count < Self.maxPrepared else { return nil }
        let name = "s\(prepared.count)"
        roundTrips += 1
        _ = try consume(PQprepare(handle, name, sql, Int32(parameterCount), nil), query: sql)
        prepared[sql] = name
        return name
    }

    private static func isTransactionControl(_ sql: String) -> Bool {
        ["BEGIN", "COMMIT", "ROLLBACK"].contains(sql) || sql.hasPrefix("SET ")
    }

    /// Runs a script of several statements (migrations). Takes no parameters.
    public func execute(script: String) throws {
        guard let handle else { throw PostgresError.connectionClosed("connection is closed") }
        _ = try pipeline(then: nil)  // a pending BEGIN and queued statements go first
        roundTrips += 1
        _ = try consume(PQexec(handle, script), query: script)
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: (PostgresConnection) throws -> T) throws -> T {
        try begin()
        do {
            let value = try body(self)
            try end(committing: true)
            return value
        } catch {
            try? end(committing: false)
            throw error
        }
    }

    // MARK: Transaction control, for both transaction helpers

    /// Begins a transaction; BEGIN goes to the server with its first statement.
    func begin() throws {
        beginPending = true
    }

    /// Commits, or rolls back (when the connection still works: a lost one has rolled back anyway).
    /// COMMIT travels with the statements ``send(_:_:)`` queued; a rollback drops them unsent.
    func end(committing: Bool) throws {
        if !committing { queued = [] }
        if beginPending && queued.isEmpty {  // no statement ran: nothing was begun on the server
            beginPending = false
            return
        }
        if committing {
            try query("COMMIT")
            inTransaction = false
        } else {
            inTransaction = false
            if isHealthy { try query("ROLLBACK") }
        }
    }

    // MARK: Results

    private func consume(_ result: OpaquePointer?, query sql: String) throws -> PostgresRows {
        guard let handle else { throw PostgresError.connectionClosed("connection is closed") }
        guard let result else {
            throw PostgresError.connectionClosed(Self.errorMessage(handle))
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            let columnCount = Int(PQnfields(result))
            let rowCount = Int(PQntuples(result))
            var columns: [String] = []
            columns.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                columns.append(String(cString: PQfname(result, Int32(column))))
            }
            var values: [[String?]] = []
            values.reserveCapacity(rowCount)
            for row in 0..<rowCount {
                var rowValues: [String?] = []
                rowValues.reserveCapacity(columnCount)
                for column in 0..<columnCount {
                    if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                        rowValues.append(nil)
                    } else {
                        // Copied now: the value dies with PQclear.
                        rowValues.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                    }
                }
                values.append(rowValues)
            }
            let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
            return PostgresRows(columns: columns, values: values, affectedRows: affected)
        default:
            let message = String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            let sqlState = PQresultErrorField(result, ordersaga_pg_diag_sqlstate).map { String(cString: $0) }
            if PQstatus(handle) != CONNECTION_OK {
                throw PostgresError.connectionClosed(message.isEmpty ? Self.errorMessage(handle) : message)
            }
            throw PostgresError.queryFailed(message, sqlState: sqlState, query: sql)
        }
    }

    private static func errorMessage(_ handle: OpaquePointer) -> String {
        String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Calls `body` with C strings for `texts` (NULL for `nil`) that live until it returns.
private func withCStrings<R>(_ texts: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    var owned: [UnsafeMutablePointer<CChar>?] = texts.map { text in text.map { strdup($0) } }
    defer { for pointer in owned { free(pointer) } }
    return owned.withUnsafeMutableBufferPointer { buffer in
        body(buffer.map { UnsafePointer($0) })
    }
}

/// `strings` as a NULL-terminated array of C strings, valid during `body`.
private func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers: [UnsafePointer<CChar>?] = copies.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

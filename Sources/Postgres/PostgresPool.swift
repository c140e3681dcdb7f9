import Metrics
import Synchronization

/// A small pool of PostgreSQL connections. Each connection has a thread of its own, and the
/// blocking libpq calls run there, never on Swift's cooperative thread pool. A long-lived task may
/// run on one of those threads (``dedicatedExecutors(upTo:)``): its statements then cost no thread
/// switch to the connection's thread and back (BENCHMARKS.md, section 19).
///
/// Connections open lazily and reopen after the server dropped them, so a database restart costs
/// the statements in flight, not the process.
public final class PostgresPool: Sendable {
    /// One pooled connection and the thread its calls run on.
    /// `@unchecked Sendable`: `connection` is only read or written on `thread`.
    final class Slot: @unchecked Sendable {
        let thread: ConnectionThread
        var connection: PostgresConnection?
        /// A task runs on `thread` (``PostgresPool/dedicatedExecutors(upTo:)``). Read and written with the pool's lock held.
        var dedicated = false
        /// The pool's label: the connection's `application_name`.
        let applicationName: String
        init(label: String, applicationName: String) {
            self.applicationName = applicationName
            thread = ConnectionThread(name: label)
        }
        deinit { thread.stop() }

        /// The open connection, reopened if the server dropped it. Runs on `thread`.
        func open(conninfo: String, reconnects: Counter) throws -> PostgresConnection {
            if let connection, connection.isHealthy { return connection }
            if let connection {
                reconnects.increment()
                try connection.reconnect()
                return connection
            }
            let connection = try PostgresConnection(conninfo: conninfo, applicationName: applicationName)
            self.connection = connection
            return connection
        }
    }

    private struct State {
        var idle: [Slot] = []
        var waiters: [CheckedContinuation<Slot, Never>] = []
        var slots: [Slot] = []
        var dedicated = 0
    }

    /// The libpq connection string its connections open with.
    public let conninfo: String
    private let size: Int
    private let label: String
    private let state = Mutex(State())
    /// How long a caller waited for a free connection (swift-metrics; see `ProcessMetrics`).
    private let waits: Metrics.Timer
    /// Connections reopened after the server dropped them.
    let reconnects: Counter

    /// - Parameters:
    ///   - conninfo: a libpq connection string or URI.
    ///   - size: the most connections open at once.
    ///   - label: the pool's name in its metrics, and its connections' `application_name`
    ///     (`pg_stat_activity`), unless `conninfo` gives one.
    public init(conninfo: String, size: Int = 4, label: String = "postgres") {
        precondition(size > 0, "a pool needs at least one connection")
        self.conninfo = conninfo
        self.size = size
        self.label = label
        self.waits = Metrics.Timer(label: "ordersaga_postgres_pool_wait_seconds", dimensions: [("pool", label)])
        self.reconnects = Counter(label: "ordersaga_postgres_reconnects_total", dimensions: [("pool", label)])
    }

    /// Runs `body` with a connection of its own, on that connection's thread.
    public func withConnection<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await withSession { session in try await session.run(body) }
    }

    /// Lends one connection for several steps with awaits between them (a transaction that holds
    /// row locks while a publish is confirmed). Each step still runs on the connection's thread.
    public func withSession<T: Sendable>(_ body: (PostgresSession) async throws -> T) async throws -> T {
        let asked = ContinuousClock.now
        let slot = await acquire()
        waits.record(duration: ContinuousClock.now - asked)
        defer { release(slot) }
        return try await body(PostgresSession(slot: slot, conninfo: conninfo, reconnects: reconnects))
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    public func transaction<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await withConnection { connection in try connection.transaction(body) }
    }

    /// Runs one statement on any connection.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PostgresParameter] = []) async throws -> PostgresRows {
        try await withConnection { connection in try connection.query(sql, parameters) }
    }

    /// Whether the database answers `SELECT 1` within `limit`: what a probe asks. A database that
    /// takes the connection and never answers (stopped, or a host that vanished) is "no" after
    /// `limit`, not a probe that hangs past its orchestrator's timeout; the statement itself goes
    /// on until the server answers or the connection fails (a blocking libpq call cannot be
    /// cancelled).
    public func answers(within limit: Duration) async -> Bool {
        let answer = FirstAnswer()
        return await withCheckedContinuation { continuation in
            answer.wait(continuation)
            Task { answer.settle((try? await self.query("SELECT 1")) != nil) }
            Task {
                try? await Task.sleep(for: limit)
                answer.settle(false)
            }
        }
    }

    /// Resumes its continuation with the first value it is given.
    private final class FirstAnswer: Sendable {
        private let continuation = Mutex<CheckedContinuation<Bool, Never>?>(nil)
        func wait(_ continuation: CheckedContinuation<Bool, Never>) { self.continuation.withLock { $0 = continuation } }
        func settle(_ value: Bool) {
            continuation.withLock { waiting in
                waiting?.resume(returning: value)
                waiting = nil
            }
        }
    }

    /// Threads of connections, one for each of up to `count` long-lived tasks to run on
    /// (`withTaskExecutorPreference`): such a task's statements then run where it is, without
    /// waking the connection's thread and being woken back. Each connection goes to one such task
    /// at most, and one connection is never given away, so other callers always find a
    /// connection whose thread runs nobody else's code; fewer than `count` when they run out.
    ///
    /// A task must not start child tasks that use this pool while it holds a connection: they
    /// would queue behind it on the same thread.
    public func dedicatedExecutors(upTo count: Int) -> [any TaskExecutor] {
        state.withLock { state in
            var executors: [any TaskExecutor] = []
            while executors.count < count, state.dedicated < size - 1 {
                while state.slots.count <= state.dedicated { state.idle.append(newSlot(&state)) }
                let slot = state.slots[state.dedicated]
                slot.dedicated = true
                state.dedicated += 1
                executors.append(slot.thread)
            }
            return executors
        }
    }

    private func newSlot(_ state: inout State) -> Slot {
        let slot = Slot(label: "\(label).connection\(state.slots.count + 1)", applicationName: label)
        state.slots.append(slot)
        return slot
    }

    /// An idle connection: the one whose thread the caller runs on, if it is idle; else one no
    /// task runs on, so the statements do not wait behind that task's own code.
    private func acquire() async -> Slot {
        await withCheckedContinuation { (continuation: CheckedContinuation<Slot, Never>) in
            let slot: Slot? = state.withLock { state in
                if !state.idle.isEmpty {
                    let index = state.idle.firstIndex { $0.thread.isCurrent }
                        ?? state.idle.lastIndex { !$0.dedicated } ?? state.idle.count - 1
                    return state.idle.remove(at: index)
                }
                if state.slots.count < size { return newSlot(&state) }
                state.waiters.append(continuation)
                return nil
            }
            if let slot { continuation.resume(returning: slot) }
        }
    }

    private func release(_ slot: Slot) {
        let waiter: CheckedContinuation<Slot, Never>? = state.withLock { state in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.idle.append(slot)
            return nil
        }
        waiter?.resume(returning: slot)
    }
}

/// One connection lent by ``PostgresPool/withSession(_:)``; valid only inside that call.
public struct PostgresSession: Sendable {
    /// Runs `body` in one transaction on this connection, with awaits between its statements (a
    /// transaction that holds row locks while a publish is confirmed): committed when `body`
    /// returns, rolled back when it throws. ``PostgresConnection/transaction(_:)`` is the same for
    /// work that never leaves the connection's thread.
    public func transaction<T: Sendable>(_ body: (PostgresSession) async throws -> T) async throws -> T {
        try await run { try $0.begin() }
        do {
            let value = try await body(self)
            try await run { try $0.end(committing: true) }
            return value
        } catch {
            _ = try? await run { try $0.end(committing: false) }
            throw error
        }
    }

    let slot: PostgresPool.Slot
    let conninfo: String
    let reconnects: Counter

    /// Runs blocking work on the connection's own thread (where it is, when the task runs there).
    public func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let slot = self.slot
        let conninfo = self.conninfo
        let reconnects = self.reconnects
        if slot.thread.isCurrent {  // a task dedicated to this connection's thread: no hop
            return try body(try slot.open(conninfo: conninfo, reconnects: reconnects))
        }
        return try await withCheckedThrowingContinuation { continuation in
            slot.thread.submit {
                continuation.resume(with: Result {
                    let connection = try slot.open(conninfo: conninfo, reconnects: reconnects)
                    return try body(connection)
                })
            }
        }
    }
}

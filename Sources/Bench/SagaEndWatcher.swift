import Postgres
import Synchronization

/// Tells each waiting client when its saga ended, by asking the order database about every saga
/// still awaited in one statement every few milliseconds (one poll for all clients, whatever
/// their number). The time a saga took is the database's: from its checkout's commit to the
/// commit that ended it, so the poll's interval does not skew it.
final class SagaEndWatcher: Sendable {
    struct Ended: Sendable {
        var status: String
        /// From the saga's creation to its final status, by the database's clock.
        var microseconds: Int64
    }

    struct Waiter {
        var continuation: CheckedContinuation<Ended?, Never>
        var deadline: ContinuousClock.Instant
    }

    struct State {
        var waiting: [String: Waiter] = [:]
        var stopped = false
        var polls = 0
    }

    let pool: PostgresPool
    let interval: Duration
    private let state = Mutex(State())

    init(pool: PostgresPool, interval: Duration = .milliseconds(5)) {
        self.pool = pool
        self.interval = interval
    }

    /// Polls made: each is one transaction the benchmark, not the system, caused.
    var polls: Int { state.withLock { $0.polls } }

    /// Returns when saga `id` reached COMPLETED, COMPENSATED or FAILED; `nil` after `timeout`.
    func waitForEnd(of id: String, timeout: Duration) async -> Ended? {
        await withCheckedContinuation { continuation in
            state.withLock { $0.waiting[id] = Waiter(continuation: continuation, deadline: .now + timeout) }
        }
    }

    func stop() {
        state.withLock { $0.stopped = true }
    }

    func run() async throws {
        while true {
            let (ids, stopped) = state.withLock { (Array($0.waiting.keys), $0.stopped) }
            if stopped { return }
            if !ids.isEmpty {
                let rows = try await pool.query(
                    """
                    SELECT id::text AS id, status, (extract(epoch FROM updated_at - created_at) * 1000000)::bigint AS us
                    FROM order_sagas WHERE id = ANY($1::uuid[]) AND status IN ('COMPLETED', 'COMPENSATED', 'FAILED')
                    """, [ids])
                var ended: [(Waiter, Ended?)] = []
                var found: [String: Ended] = [:]
                for row in rows {
                    found[try row.string("id")] = Ended(status: try row.string("status"), microseconds: Int64(try row.int("us")))
                }
                let now = ContinuousClock.now
                state.withLock { state in
                    state.polls += 1
                    for (id, result) in found {
                        if let waiter = state.waiting.removeValue(forKey: id) { ended.append((waiter, result)) }
                    }
                    for (id, waiter) in state.waiting where waiter.deadline < now {
                        state.waiting[id] = nil
                        ended.append((waiter, nil))
                    }
                }
                for (waiter, result) in ended { waiter.continuation.resume(returning: result) }
            }
            try await Task.sleep(for: interval)
        }
    }
}

import Postgres
import Synchronization

/// Tells each waiting client when its saga ended, by asking the order database about every saga
/// still awaited in one statement every few milliseconds (one poll for all clients, whatever
/// their number). The time a saga took is the database's: from its checkout's commit to the
/// commit that ended it, so the poll's interval does not skew it. The interval is a fiftieth of
/// the typical saga's time (5 to 50 ms): a client learns of its saga's end within about 2 % of
/// that time, and the polls, each a probe per saga in flight, do not take the CPU the system
/// under test needs when many sagas are in flight.
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
        /// A moving average of the sagas' times, in microseconds.
        var typicalMicroseconds: Double?
    }

    let pool: PostgresPool
    /// The shortest and longest pause between polls.
    let intervals: ClosedRange<Duration>
    private let state = Mutex(State())

    init(pool: PostgresPool, intervals: ClosedRange<Duration> = .milliseconds(5) ... .milliseconds(50)) {
        self.pool = pool
        self.intervals = intervals
    }

    /// The pause before the next poll: a fiftieth of the typical saga's time, within ``intervals``.
    var interval: Duration {
        let typical = state.withLock { $0.typicalMicroseconds } ?? 0
        return min(max(.microseconds(Int64(typical / 50)), intervals.lowerBound), intervals.upperBound)
    }

    /// Polls made: each is one transaction the benchmark, not the system, caused.
    var polls: Int { state.withLock { $0.polls } }

    /// The process id of the PostgreSQL backend that answers the polls (its pool has one
    /// connection): the CPU it spends is the benchmark's, not the system's.
    func backend() async throws -> Int32 {
        Int32(try await pool.query("SELECT pg_backend_pid() AS pid").first!.int("pid"))
    }

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
                    for result in found.values {
                        let time = Double(result.microseconds)
                        state.typicalMicroseconds = state.typicalMicroseconds.map { $0 * 0.95 + time * 0.05 } ?? time
                    }
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

import Logging
import Messaging
import ServiceLifecycle
import Synchronization

/// Admission control: while more sagas than `limit` are in flight (RUNNING or COMPENSATING),
/// checkout answers 503 with `Retry-After` instead of queueing work that cannot start for a long
/// time, so the latency of the sagas already accepted stays bounded under overload.
///
/// The count is the database's, read every `interval` (so every instance sharing the database
/// sees the others' sagas), plus the sagas this instance started since that read. A limit of 0
/// admits everything.
final class Admission: Service, Sendable {
    let limit: Int
    let interval: Duration
    private let count = Mutex((read: 0, startedSince: 0))
    private let store: any SagaStore
    private let logger: Logger

    init(limit: Int, interval: Duration = .milliseconds(200), store: any SagaStore, logger: Logger) {
        self.limit = limit
        self.interval = interval
        self.store = store
        self.logger = logger
    }

    /// Whether a new saga may start now.
    func admits() -> Bool {
        limit == 0 || count.withLock { $0.read + $0.startedSince } < limit
    }

    /// A saga was started here.
    func started() {
        count.withLock { $0.startedSince += 1 }
    }

    /// Reads the count from the store now.
    func refresh() async throws {
        let inFlight = try await store.sagasInFlight()
        count.withLock { $0 = (inFlight, 0) }
    }

    func run() async throws {
        guard limit > 0 else {
            // Nothing to count, but a service that returns would stop the whole group: stay until it stops.
            try? await gracefulShutdown()
            return
        }
        await RoundLoop(interval: interval).run("admission count", logger: logger) {
            try await refresh()
            return false
        }
    }
}

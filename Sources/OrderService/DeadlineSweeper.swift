import Logging
import Messaging
import ServiceLifecycle

/// Fires saga deadlines: rows in `order_db` compared with the database's `now()`, so a restart
/// loses none and a skewed host clock fires none early. Several instances share the work through
/// `FOR UPDATE SKIP LOCKED`.
struct DeadlineSweeper: Service {
    let engine: SagaEngine
    let batchSize: Int
    let logger: Logger
    private let loop: RoundLoop

    init(engine: SagaEngine, interval: Duration, batchSize: Int, logger: Logger) {
        self.engine = engine
        self.batchSize = batchSize
        self.logger = logger
        self.loop = RoundLoop(interval: interval)
    }

    func run() async throws {
        await loop.run("deadline sweep", logger: logger) {
            try await engine.sweepDeadlines(limit: batchSize) == batchSize
        }
    }
}

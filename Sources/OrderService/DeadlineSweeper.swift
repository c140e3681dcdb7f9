import Logging
import ServiceLifecycle

/// Fires saga deadlines: rows in `order_db` compared with the database's `now()`, so a restart
/// loses none and a skewed host clock fires none early. Several instances share the work through
/// `FOR UPDATE SKIP LOCKED`.
struct DeadlineSweeper: Service {
    let engine: SagaEngine
    let interval: Duration
    let batchSize = 100
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if try await engine.sweepDeadlines(limit: batchSize) == batchSize { continue }
            } catch {
                logger.warning("deadline sweep failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }
}

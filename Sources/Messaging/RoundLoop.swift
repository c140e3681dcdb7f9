import Logging
import ServiceLifecycle
import Synchronization

/// The loop of a service that works in rounds: the outbox relay, the deadline sweeper, message
/// retention. A round that left work behind (a full batch) goes again at once; otherwise the loop
/// pauses for `interval` or until ``wake()``. A failed round is logged (the first, then every
/// 30th in a row) and tried again after the pause. Graceful shutdown ends the pause at once and
/// stops after the round in progress.
public final class RoundLoop: Sendable {
    private let interval: Duration
    private let signal = WakeSignal()
    private let stopping = Mutex(false)

    public init(interval: Duration) {
        self.interval = interval
    }

    /// Ends the current pause early: work has arrived.
    public func wake() {
        signal.fire()
    }

    /// Runs `round` until graceful shutdown; `round` returns whether it left work behind.
    public func run(_ what: String, logger: Logger, round: () async throws -> Bool) async {
        await withGracefulShutdownHandler {
            var failures = 0
            while !stopping.withLock({ $0 }) && !Task.isCancelled {
                do {
                    let more = try await round()
                    failures = 0
                    if more { continue }
                } catch {
                    failures += 1
                    if failures == 1 || failures % 30 == 0 {
                        logger.warning("\(what) failed; trying again", metadata: ["error": "\(error)", "failures": "\(failures)"])
                    }
                }
                await signal.wait(timeout: interval)
            }
        } onGracefulShutdown: {
            self.stopping.withLock { $0 = true }
            self.signal.fire()
        }
    }
}

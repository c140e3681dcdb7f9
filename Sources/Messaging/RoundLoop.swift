import Logging
import Retry
import ServiceLifecycle
import Synchronization

/// The loop of a service that works in rounds: the outbox relay, the deadline sweeper, message
/// retention. A round that left work behind (a full batch) goes again at once; otherwise the loop
/// pauses for `interval` or until ``wake()``. A failed round is logged (the first, then every
/// 30th in a row) and tried again after a backoff that grows to 30 s, never longer than
/// `interval`; the first round that works after failures is logged too. Graceful shutdown ends
/// the pause at once and stops after the round in progress.
public final class RoundLoop: Sendable {
    private let interval: Duration
    /// After a failed round: 250 ms, doubling to 30 s.
    static let failureBackoff = RetryPolicy.unlimited(backoffMilliseconds: 250, maxDelayMilliseconds: 30_000)
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
            var failures = FailureLog(every: 30)
            while !stopping.withLock({ $0 }) && !Task.isCancelled {
                do {
                    let more = try await round()
                    let ended = failures.succeeded()
                    if ended > 0 { logger.notice("\(what) works again", metadata: ["failures": "\(ended)"]) }
                    if more { continue }
                    await signal.wait(timeout: interval)
                } catch {
                    if failures.failed() {
                        logger.warning("\(what) failed; trying again", metadata: ["error": "\(error)", "failures": "\(failures.failures)"])
                    }
                    await signal.wait(timeout: min(interval, Self.failureBackoff.delay(afterAttempt: failures.failures)))
                }
            }
        } onGracefulShutdown: {
            self.stopping.withLock { $0 = true }
            self.signal.fire()
        }
    }
}

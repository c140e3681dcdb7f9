import Retry
import Testing

/// The one retry rule and the one failure-log rule every loop uses.
@Suite struct RetryTests {
    @Test func failureLogLogsTheFirstAndEveryNthWithTheCount() {
        var log = FailureLog(every: 20)
        let logged = (1...60).filter { _ in log.failed() }
        #expect(logged == [1, 20, 40, 60])
        #expect(log.failures == 60)
        let ended = log.succeeded()
        #expect(ended == 60)
        #expect(log.failures == 0)
        let loggedAgain = log.failed()
        #expect(loggedAgain)  // a new run of failures is logged from its first again
    }

    @Test func unlimitedPolicyGrowsToItsCapAndNeverRunsOut() {
        let policy = RetryPolicy.unlimited(backoffMilliseconds: 100, maxDelayMilliseconds: 5000, jitter: 0)
        #expect(policy.attempts == .max)
        #expect([1, 2, 3, 6, 7, 1000].map { policy.delayMilliseconds(afterAttempt: $0, unit: 0.5) } == [100, 200, 400, 3200, 5000, 5000])
    }

    @Test func randomJitterStaysWithinItsSpread() {
        let policy = RetryPolicy.unlimited(backoffMilliseconds: 1000, maxDelayMilliseconds: 1000, jitter: 0.2)
        for _ in 0..<100 {
            let delay = policy.delay(afterAttempt: 1)
            #expect(delay >= .milliseconds(800) && delay <= .milliseconds(1000))
        }
    }
}

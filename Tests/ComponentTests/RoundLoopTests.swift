import Foundation
import Logging
import Messaging
import Observability
import Synchronization
import Testing

/// A service's round loop (relay, sweeper, pruning) in an outage: its first failure is logged,
/// the rest of the run of failures is not, and the round that works again says so with the count.
@Suite struct RoundLoopTests {
    struct Outage: Error {}

    @Test func anOutageIsLoggedOnceAndItsEndWithTheFailures() async throws {
        let lines = ServiceLogHandlerTests.Lines()
        let logger = Logger(label: "test") { _ in ServiceLogHandler(service: "catalog", format: .json) { lines.append($0) } }
        let rounds = Mutex(0)
        let loop = RoundLoop(interval: .milliseconds(20))
        let task = Task {
            await loop.run("test round", logger: logger) {
                guard rounds.withLock({ $0 += 1; return $0 }) > 3 else { throw Outage() }
                return false
            }
        }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while clock.now < deadline, !lines.all.contains(where: { $0.contains("works again") }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        task.cancel()
        await task.value
        let failed = lines.all.filter { $0.contains("test round failed; trying again") }
        let again = lines.all.filter { $0.contains("test round works again") }
        #expect(failed.count == 1, "\(lines.all)")
        #expect(again.count == 1 && again[0].contains(#""failures":"3""#), "\(lines.all)")
    }
}

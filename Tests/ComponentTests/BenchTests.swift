import Bench
import Foundation
import SagaInvariants
import Testing
import Workload

/// The benchmark's pure parts: which checkouts fail where, the result line, and reading /proc.
@Suite struct BenchTests {
    @Test func failureSharesAreKeptAndTheSeedFixesWhichCheckoutsFail() {
        let outcomes = BenchRun.outcomes(count: 10_000, failures: [.failsAtPayment: 0.1, .failsAtCartConvert: 0.02], seed: 3)
        let payment = outcomes.filter { $0 == .failsAtPayment }.count
        let cart = outcomes.filter { $0 == .failsAtCartConvert }.count
        #expect((900...1100).contains(payment))
        #expect((140...260).contains(cart))
        #expect(outcomes.filter { $0 == .failsAtValidateCoupon || $0 == .failsAtReserveInventory }.isEmpty)
        #expect(outcomes == BenchRun.outcomes(count: 10_000, failures: [.failsAtPayment: 0.1, .failsAtCartConvert: 0.02], seed: 3))
    }

    @Test func aRunWithProblemsPrintsThemInsteadOfFigures() throws {
        var result = BenchResult(label: "concurrency 8", model: .closed(concurrency: 8), sagas: 100, warmup: 10)
        result.sagasEndedPerSecond = 123.4
        result.sagaMilliseconds = ["p50": 20, "p99": 80]
        result.contextSwitchesPerSaga = ["order-service": 83.94, "total": 422.91]
        let good = try #require(try JSONSerialization.jsonObject(with: Data(result.json.utf8)) as? [String: Any])
        #expect(good["valid"] as? Bool == true)
        #expect(good["sagasEndedPerSecond"] as? Double == 123.4)
        #expect(good["switchesPerSaga"] as? [String: Double] == ["order-service": 83.9, "total": 422.9])
        result.problems = ["3 of 110 sagas did not end"]
        let bad = try #require(try JSONSerialization.jsonObject(with: Data(result.json.utf8)) as? [String: Any])
        #expect(bad["valid"] as? Bool == false)
        #expect(bad["sagasEndedPerSecond"] == nil)
        #expect(bad["switchesPerSaga"] == nil)
        #expect(bad["problems"] as? [String] == ["3 of 110 sagas did not end"])
    }

    @Test func anOpenRunForADurationSaysSoAndCountsShedCheckoutsApart() throws {
        var result = BenchResult(label: "rate 300/s", model: .open(perSecond: 300), sagas: 2400, warmup: 0)
        result.duration = .seconds(20)
        result.shed = 3600
        let line = try #require(try JSONSerialization.jsonObject(with: Data(result.json.utf8)) as? [String: Any])
        #expect(line["durationSeconds"] as? Double == 20)
        #expect(line["shed"] as? Int == 3600)
        #expect(line["errors"] as? Int == 0)
        #expect((line["model"] as? [String: Any])?["open"] != nil)
    }

    @Test func processUsageCountsThisProcessesCPUAndMemory() throws {
        let before = try #require(ProcessUsage.read(pid: getpid()))
        var x = 0.0
        for i in 0..<20_000_000 { x += Double(i).squareRoot() }
        #expect(x > 0)
        let after = try #require(ProcessUsage.read(pid: getpid()))
        #expect(after.cpuSeconds > before.cpuSeconds)
        #expect(after.peakRSSMegabytes > 1)
        #expect(ProcessUsage.read(pid: Int32.max) == nil)
    }

    @Test func processUsageCountsAProcessesContextSwitches() async throws {
        // A shell that waits 5 ms for input 100 times (each wait gives up its core: a voluntary
        // switch), then waits for its input to close. Not this process: the test runner's other
        // threads come and go, and an ended thread's switches are no longer counted.
        let input = Pipe()
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/bash")
        shell.arguments = ["-c", "for i in $(seq 100); do read -t 0.005 -u 0; done; read -u 0 || true"]
        shell.standardInput = input
        try shell.run()
        defer { try? input.fileHandleForWriting.close(); shell.waitUntilExit() }
        let start = try #require(ProcessUsage.read(pid: shell.processIdentifier))
        try await Task.sleep(for: .seconds(2))
        let end = try #require(ProcessUsage.read(pid: shell.processIdentifier))
        #expect(end.contextSwitches - start.contextSwitches >= 50, "\(start.contextSwitches) then \(end.contextSwitches)")
    }

    @Test func aStepNamesItsFailingOutcome() {
        #expect(CheckoutOutcome(failingAt: "payment") == .failsAtPayment)
        #expect(CheckoutOutcome(failingAt: "notify") == nil)
        #expect(CheckoutOutcome.failures.compactMap(\.step) == ["reserve-inventory", "validate-coupon", "payment", "cart-convert"])
    }

    @Test func databaseArgumentsNameTheEntryOrTheDatabaseLeftOut() throws {
        #expect(throws: InvariantError("--database foo=bar: expected NAME=URL with NAME one of order, catalog, promotion, identity, cart, notification")) {
            try SystemDatabases(arguments: ["foo=bar"])
        }
        #expect(throws: InvariantError("no URL for the catalog database: give --database catalog=URL")) {
            try SystemDatabases(arguments: ["order=postgresql://x/order_db"])
        }
        _ = try SystemDatabases(arguments: SystemDatabases.names.map { "\($0)=postgresql://127.0.0.1/\($0)_db" })
    }
}

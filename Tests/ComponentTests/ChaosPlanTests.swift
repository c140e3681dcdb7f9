import Chaos
import Workload
import Testing

/// The chaos run's plan is a function of its seed: the same seed replays the same schedule, every
/// fault kind comes in turn, and the failing checkouts cover every step.
@Suite struct ChaosPlanTests {
    @Test func theSameSeedGivesTheSamePlanAndAnotherSeedAnother() {
        let first = ChaosPlan(seed: 4242, sagas: 200, failShare: 0.3, faultCount: 18, kinds: FaultKind.allCases)
        let again = ChaosPlan(seed: 4242, sagas: 200, failShare: 0.3, faultCount: 18, kinds: FaultKind.allCases)
        let other = ChaosPlan(seed: 4243, sagas: 200, failShare: 0.3, faultCount: 18, kinds: FaultKind.allCases)
        #expect(first == again)
        #expect(first != other)
    }

    @Test func everyKindComesAsOftenAsTheCountAllows() {
        let plan = ChaosPlan(seed: 1, sagas: 10, failShare: 0.3, faultCount: 2 * FaultKind.allCases.count + 1, kinds: FaultKind.allCases)
        var counts: [FaultKind: Int] = [:]
        for fault in plan.faults { counts[fault.kind, default: 0] += 1 }
        #expect(Set(counts.keys) == Set(FaultKind.allCases))
        #expect(counts.values.allSatisfy { $0 == 2 || $0 == 3 })
        #expect(plan.faults.allSatisfy { (500...3000).contains($0.gapMilliseconds) && !$0.targets.isEmpty })
        #expect(plan.faults.filter { $0.kind == .crashPoint }.allSatisfy { $0.crashPoint?.contains(":") == true })
        // A database outage restarts the order service and one worker while it lasts.
        for fault in plan.faults where fault.kind == .postgresOutage {
            #expect(fault.targets.first == "order-service" && ChaosPlan.workers.contains(fault.targets[1]) && fault.targets.count == 2)
            #expect((2000...6000).contains(fault.holdMilliseconds))
        }
        // A memory alarm restarts one service while it lasts.
        for fault in plan.faults where fault.kind == .brokerAlarm {
            #expect(fault.targets.count == 1 && ChaosPlan.services.contains(fault.targets[0]))
            #expect((2000...6000).contains(fault.holdMilliseconds))
        }
    }

    @Test func aboutTheFailShareFailsSpreadOverEveryStep() {
        let plan = ChaosPlan(seed: 9, sagas: 2000, failShare: 0.3, faultCount: 0, kinds: [])
        let failing = plan.checkouts.filter { $0 != .succeeds }
        #expect((500...700).contains(failing.count))
        for step in CheckoutOutcome.failures {
            #expect(abs(failing.filter { $0 == step }.count - failing.count / CheckoutOutcome.failures.count) <= 1)
        }
        #expect(plan.faults.isEmpty)
    }

    @Test func aReportPassesOnlyWithNothingLostTwiceOrBroken() {
        var report = ChaosReport(seed: 1)
        report.accepted = 10
        report.completed = 10
        #expect(report.passed)
        #expect(report.line.hasPrefix("chaos seed=1 sagas=10 completed=10 compensated=0 failed=0 lost=0 duplicates=0 violations=0"))
        for broken in [{ (r: inout ChaosReport) in r.lost = 1 }, { $0.duplicates = 1 }, { $0.violations = ["x"] }, { $0.refused = ["y"] }] {
            var copy = report
            broken(&copy)
            #expect(!copy.passed)
        }
    }
}

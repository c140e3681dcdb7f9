import Foundation
import SagaCore
import Testing

@Suite struct SagaDefinitionTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func shippedCreateOrderDefinitionIsValid() throws {
        let url = Self.repositoryRoot.appendingPathComponent("sagas/create_order.yaml")
        let definition = try SagaDefinition(yaml: String(contentsOf: url, encoding: .utf8), file: "create_order.yaml")
        #expect(definition.name == "create_order")
        #expect(definition.steps.map(\.name) == ["reserve-inventory", "validate-coupon", "payment", "cart-convert", "notify"])
        #expect(definition.steps.map(\.participant) == ["catalog", "promotion", "identity", "cart", "notification"])
        #expect(definition.step(named: "notify")?.compensation == nil)
        #expect(definition.step(named: "validate-coupon")?.skippable == true)
        #expect(definition.step(named: "payment")?.compensationRetry.attempts == 10)
        #expect(definition.step(named: "reserve-inventory")?.timeoutMilliseconds == 5000)
        #expect(definition.step(named: "reserve-inventory")?.retry == RetryPolicy(attempts: 3, backoffMilliseconds: 200, maxDelayMilliseconds: 2000, jitter: 0.2))
        // notify comes after the pivot: retried for a long while (about 25 minutes), never compensated.
        #expect(definition.kind(ofStepAt: 3) == .pivot)
        #expect(definition.kind(ofStepAt: 4) == .retriable)
        #expect(definition.step(named: "notify")?.retry.attempts == 30)
        #expect(definition.step(named: "payment")?.sendTimeoutMilliseconds == StepDefinition.defaultSendTimeoutMilliseconds)
    }

    /// cancel_order undoes what create_order did: each of its commands is one of create_order's
    /// compensations (the money first), then the notice; none can be undone, so each is retriable.
    @Test func shippedCancelOrderDefinitionUndoesCreateOrder() throws {
        let read = { (name: String) in
            try SagaDefinition(
                yaml: String(contentsOf: Self.repositoryRoot.appendingPathComponent("sagas/\(name).yaml"), encoding: .utf8), file: "\(name).yaml")
        }
        let cancel = try read("cancel_order")
        let create = try read("create_order")
        #expect(cancel.name == "cancel_order")
        #expect(cancel.steps.map(\.command) == [
            "identity.refund_payment", "catalog.release_inventory", "promotion.release_coupon", "cart.restore_cart", "notification.send_cancellation",
        ])
        #expect(Set(cancel.steps.dropLast().map(\.command)) == Set(create.steps.compactMap(\.compensation)))
        #expect(cancel.steps.indices.allSatisfy { cancel.kind(ofStepAt: $0) == .retriable })
        #expect(cancel.steps.allSatisfy { !$0.skippable && $0.retry.attempts == 30 })
    }

    @Test func sendTimeoutIsReadAndChecked() throws {
        let definition = try SagaDefinition(yaml: Self.valid + "\n    send_timeout: 2m", file: "ok.yaml")
        #expect(definition.steps[0].sendTimeoutMilliseconds == 120_000)
        let bad = problem(Self.valid + "\n    send_timeout: soon")
        #expect(bad?.line == 10)
        #expect(bad?.problem.contains("send_timeout") == true)
    }

    /// Definitions stored in saga_definitions before send_timeout existed still load.
    @Test func storedDefinitionWithoutASendTimeoutReadsWithTheDefault() throws {
        let stored = #"{"name":"a","participant":"svc","command":"svc.do","compensation":"svc.undo","timeoutMilliseconds":250,"#
            + #""retry":{"attempts":2,"backoffMilliseconds":10,"maxDelayMilliseconds":1000,"jitter":0},"#
            + #""compensationRetry":{"attempts":5,"backoffMilliseconds":10,"maxDelayMilliseconds":1000,"jitter":0},"skippable":false}"#
        let step = try JSONDecoder().decode(StepDefinition.self, from: Data(stored.utf8))
        #expect(step.sendTimeoutMilliseconds == StepDefinition.defaultSendTimeoutMilliseconds)
        #expect(try JSONDecoder().decode(StepDefinition.self, from: JSONEncoder().encode(step)) == step)
    }

    static let valid = """
        name: demo
        version: 2
        steps:
          - name: a
            participant: svc
            command: svc.do
            compensation: svc.undo
            timeout: 250ms
            retry: { attempts: 2, backoff: 10ms, max_delay: 1s }
        """

    func problem(_ yaml: String) -> SagaDefinitionError? {
        do {
            _ = try SagaDefinition(yaml: yaml, file: "bad.yaml")
            return nil
        } catch {
            return error
        }
    }

    @Test func validMinimalDefinitionParses() throws {
        let definition = try SagaDefinition(yaml: Self.valid, file: "demo.yaml")
        #expect(definition.version == 2)
        #expect(definition.steps[0].timeoutMilliseconds == 250)
        #expect(definition.steps[0].retry.maxDelayMilliseconds == 1000)
    }

    @Test func unknownKeyIsReportedWithItsLine() {
        let yaml = Self.valid.replacingOccurrences(of: "    timeout: 250ms", with: "    timeout: 250ms\n    timout: 3s")
        let error = problem(yaml)
        #expect(error?.file == "bad.yaml")
        #expect(error?.line == 9)
        #expect(error?.problem.contains("unknown key \"timout\"") == true)
        #expect(error?.description.hasPrefix("bad.yaml:9: ") == true)
    }

    @Test func badDurationNamesTheValue() {
        let error = problem(Self.valid.replacingOccurrences(of: "250ms", with: "soon"))
        #expect(error?.line == 8)
        #expect(error?.problem.contains("\"soon\" is not a duration") == true)
    }

    @Test func missingFieldIsReportedOnItsStep() {
        let error = problem(Self.valid.replacingOccurrences(of: "    timeout: 250ms\n", with: ""))
        #expect(error?.line == 4)
        #expect(error?.problem.contains("missing \"timeout\"") == true)
    }

    @Test func duplicateStepNamesAreRefused() {
        let steps = Self.valid.components(separatedBy: "steps:\n")[1]
        let error = problem(Self.valid + "\n" + steps)
        #expect(error?.problem.contains("defined twice") == true)
        #expect(error?.line == 10)
    }

    @Test func commandMustBelongToItsParticipant() {
        let error = problem(Self.valid.replacingOccurrences(of: "command: svc.do", with: "command: other.do"))
        #expect(error?.line == 6)
        #expect(error?.problem.contains("must start with its participant") == true)
    }

    @Test func brokenYAMLIsReportedWithALine() {
        let error = problem("name: demo\nversion: 1\nsteps:\n  - name: [unclosed\n")
        #expect(error != nil)
        #expect((error?.line ?? 0) >= 4)
        #expect(error?.problem.contains("not valid YAML") == true)
    }

    @Test func retryDelayGrowsAndIsCapped() {
        let policy = RetryPolicy(attempts: 5, backoffMilliseconds: 100, maxDelayMilliseconds: 350, jitter: 0)
        #expect((1...4).map { policy.delayMilliseconds(afterAttempt: $0, unit: 0.5) } == [100, 200, 350, 350])
        let jittered = RetryPolicy(attempts: 5, backoffMilliseconds: 100, maxDelayMilliseconds: 1000, jitter: 0.5)
        #expect(jittered.delayMilliseconds(afterAttempt: 1, unit: 0) == 50)
        #expect(jittered.delayMilliseconds(afterAttempt: 1, unit: 0.999_999) == 150)
    }
}

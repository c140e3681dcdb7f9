import AMQP
import CheckoutContracts
import Foundation
@testable import OrderService
import SagaCore
import Testing
import TestSupport

/// The order service refuses to start when `sagas/create_order.yaml` names a step or compensation
/// that no participant's contract handles, or a command it cannot build a payload for, naming the
/// file, the step's line and what is missing. No server is needed: it stops before any I/O.
@Suite struct SagaContractCheckTests {
    static let shipped = TestSystem.repositoryRoot.appendingPathComponent("sagas")

    /// Starts an order service on a copy of the shipped file with `edit` applied; returns the error.
    func startupError(editing edit: (String) -> String) async throws -> SagaDefinitionError? {
        let text = edit(try String(contentsOf: Self.shipped.appendingPathComponent("create_order.yaml"), encoding: .utf8))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(TestInfrastructure.uniqueName("sagas"))
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try text.write(to: directory.appendingPathComponent("create_order.yaml"), atomically: true, encoding: .utf8)
        let configuration = OrderServiceConfiguration(
            postgresURL: "postgresql://nobody@127.0.0.1:1/none", amqp: AMQPConfiguration(port: 1), sagasDirectory: directory)
        do {
            _ = try await buildOrderService(configuration, logger: .init(label: "test"))
            return nil
        } catch let error as SagaDefinitionError {
            return error
        }
    }

    @Test func aCommandNoParticipantHandlesStopsTheServiceNamingTheStep() async throws {
        let error = try #require(try await startupError { $0.replacingOccurrences(of: "command: cart.convert_cart", with: "command: cart.convert_wishlist") })
        #expect(error.problem == #"step "cart-convert": participant cart handles no command "cart.convert_wishlist" (it handles: cart.convert_cart, cart.restore_cart)"#)
        #expect(error.file.hasSuffix("create_order.yaml"))
        let text = try String(contentsOf: Self.shipped.appendingPathComponent("create_order.yaml"), encoding: .utf8)
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("- name: cart-convert") }! + 1
        #expect(error.line == line)
    }

    @Test func aCompensationNoParticipantHandlesStopsTheService() async throws {
        let error = try #require(try await startupError { $0.replacingOccurrences(of: "compensation: identity.refund_payment", with: "compensation: identity.forget_payment") })
        #expect(error.problem.contains(#"participant identity handles no command "identity.forget_payment""#))
    }

    @Test func anUnknownParticipantStopsTheService() async throws {
        let error = try #require(try await startupError {
            $0.replacingOccurrences(of: "participant: notification\n    command: notification.send_confirmation",
                                    with: "participant: shipping\n    command: shipping.send_confirmation")
        })
        #expect(error.problem.hasPrefix(#"step "notify": no participant "shipping" in CheckoutContracts"#))
    }

    @Test func everyShippedStepHasAParticipantAndAPayload() throws {
        let definition = try SagaDefinitionRegistry.load(name: "create_order", directory: Self.shipped)
        try CreateOrderSaga.check(definition, file: "create_order.yaml", text: nil)
        for step in definition.steps {
            #expect(CheckoutContracts.participants[step.participant]?.contains(step.command) == true, "\(step.name)")
            #expect(CreateOrderSaga.payloads[step.command] != nil, "\(step.name)")
        }
    }
}

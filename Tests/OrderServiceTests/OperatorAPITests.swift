import CheckoutContracts
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import OrderService
import SagaCore
import Testing
import TestSupport

/// `POST /api/v1/sagas/{id}/retry|skip|compensate|abort` over the in-memory store: each action's
/// effect, its refusals as problem+json, and `If-Match` telling the second of two operators.
@Suite struct OperatorAPITests {
    struct Answer { var status: HTTPResponse.Status; var body: Data; var etag: String? }

    func act(_ client: some TestClientProtocol, _ saga: String, _ action: String, _ body: String, ifMatch: String? = nil) async throws -> Answer {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let ifMatch { headers[.ifMatch] = ifMatch }
        return try await client.execute(uri: "/api/v1/sagas/\(saga)/\(action)", method: .post, headers: headers, body: ByteBuffer(string: body)) {
            Answer(status: $0.status, body: Data($0.body.readableBytesView), etag: $0.headers[.eTag])
        }
    }

    func saga(_ client: some TestClientProtocol, _ id: String) async throws -> SagaView {
        try await client.execute(uri: "/api/v1/sagas/\(id)", method: .get) {
            try JSONDecoder().decode(SagaView.self, from: Data($0.body.readableBytesView))
        }
    }

    /// A checkout whose payment command is never answered.
    func stuckAtPayment(_ harness: Harness, _ client: some TestClientProtocol) async throws -> String {
        let accepted = try await client.execute(
            uri: "/api/v1/checkout", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: Harness.checkout())
        ) { try JSONDecoder().decode(Accepted.self, from: Data($0.body.readableBytesView)) }
        try await harness.play { $0.type == IdentityContract.chargePayment ? .ignore : .succeed }
        return accepted.sagaId
    }

    @Test func skipNeedsTheStepsReplyDataThenTheSagaGoesOnWithIt() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let id = try await stuckAtPayment(harness, client)
            let before = try await saga(client, id)

            let missing = try await act(client, id, "skip", #"{"operator": "alice", "step": "payment"}"#)
            #expect(missing.status == .unprocessableContent)
            let problem = try JSONDecoder().decode(Problem.self, from: missing.body)
            #expect(problem.errors?.first?.field == "result")
            #expect(try await saga(client, id) == before, "a refused skip changes nothing")

            let skipped = try await act(client, id, "skip", """
                {"operator": "alice", "reason": "charged by hand", "step": "payment", "result": {"chargeId": "ch_manual", "amountCents": 1800}}
                """)
            #expect(skipped.status == .ok, "\(String(decoding: skipped.body, as: UTF8.self))")
            let after = try JSONDecoder().decode(SagaView.self, from: skipped.body)
            #expect(after.steps.first { $0.name == "payment" }?.status == "SUCCEEDED")
            #expect(after.timeline.contains { $0.event == "operator_skip" && $0.actor == "alice" && $0.detail == "charged by hand" })
            #expect(skipped.etag == "\"\(after.version)\"")
            try await harness.play()
            #expect(try await saga(client, id).status == "COMPLETED")
        }
    }

    @Test func abortNeedsAReasonIsRefusedOnceEndedAndCanBeRetried() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let id = try await stuckAtPayment(harness, client)
            let noReason = try await act(client, id, "abort", #"{"operator": "carol"}"#)
            #expect(noReason.status == .unprocessableContent)
            #expect(try JSONDecoder().decode(Problem.self, from: noReason.body).errors?.map(\.field) == ["reason"])

            let aborted = try await act(client, id, "abort", #"{"operator": "carol", "reason": "customer called"}"#)
            #expect(aborted.status == .ok)
            #expect(try JSONDecoder().decode(SagaView.self, from: aborted.body).status == "FAILED")

            let again = try await act(client, id, "abort", #"{"operator": "carol", "reason": "twice"}"#)
            #expect(again.status == .conflict)
            #expect(try JSONDecoder().decode(Problem.self, from: again.body).detail
                == "the saga is FAILED: only a RUNNING or COMPENSATING saga can be aborted; nothing was changed")

            let retried = try await act(client, id, "retry", #"{"operator": "dave"}"#)
            #expect(retried.status == .ok)
            try await harness.play()
            let saga = try await saga(client, id)
            #expect(saga.status == "COMPLETED")
            #expect(saga.timeline.filter { $0.actor != nil }.map(\.event) == ["operator_abort", "operator_retry"])
        }
    }

    @Test func compensateUndoesWhatTookEffect() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let id = try await stuckAtPayment(harness, client)
            let answer = try await act(client, id, "compensate", #"{"operator": "alice", "reason": "fraud suspected"}"#)
            #expect(answer.status == .ok)
            let played = try await harness.play()
            #expect(played == ["payment:compensation", "validate-coupon:compensation", "reserve-inventory:compensation"])
            let saga = try await saga(client, id)
            #expect(saga.status == "COMPENSATED")
            #expect(saga.failureReason == "compensation asked for by alice: fraud suspected")
        }
    }

    @Test func twoOperatorsActingOnWhatTheySawOneWinsTheOtherIsTold() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let id = try await stuckAtPayment(harness, client)
            let seen = try await saga(client, id)
            let answers = try await withThrowingTaskGroup(of: Answer.self) { group in
                for name in ["alice", "bob"] {
                    group.addTask { try await act(client, id, "retry", #"{"operator": "\#(name)"}"#, ifMatch: "\"\(seen.version)\"") }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.map(\.status).sorted { $0.code < $1.code } == [.ok, .preconditionFailed])
            let told = try #require(answers.first { $0.status == .preconditionFailed })
            #expect(try JSONDecoder().decode(Problem.self, from: told.body).detail.contains("is at version \(seen.version + 1), not \(seen.version)"))
            // One fresh attempt, not two.
            let after = try await saga(client, id)
            #expect(after.steps.first { $0.name == "payment" }?.attempt == 2)
            #expect(after.timeline.filter { $0.event == "operator_retry" }.count == 1)
        }
    }

    @Test func badRequestsNameTheFieldAndUnknownSagasAre404() async throws {
        let harness = try Harness()
        try await harness.app.test(.router) { client in
            let client = client.authorized(harness.adminKey)
            let id = try await stuckAtPayment(harness, client)
            let unknownField = try await act(client, id, "retry", #"{"operator": "alice", "step": "payment"}"#)
            #expect(unknownField.status == .unprocessableContent)
            #expect(try JSONDecoder().decode(Problem.self, from: unknownField.body).errors?.map(\.field) == ["step"])
            let noOperator = try await act(client, id, "retry", "{}")
            #expect(try JSONDecoder().decode(Problem.self, from: noOperator.body).errors?.map(\.field) == ["operator"])
            let badIfMatch = try await act(client, id, "retry", #"{"operator": "alice"}"#, ifMatch: "yesterday")
            #expect(try JSONDecoder().decode(Problem.self, from: badIfMatch.body).errors?.map(\.field) == ["If-Match"])
            let unknown = try await act(client, UUID().uuidString, "retry", #"{"operator": "alice"}"#)
            #expect(unknown.status == .notFound)
            let notJSON = try await act(client, id, "retry", "operator=alice")
            #expect(notJSON.status == .badRequest)
        }
    }
}

import AMQP
import Foundation
import Messaging
import SagaCore

/// A reply as the order service receives it, its envelope and body parsed once.
struct IncomingReply: Sendable {
    let messageID: String
    let type: String
    let sagaID: UUID
    let step: String
    let phase: StepPhase
    let attempt: Int
    let outcome: StepReply.Outcome
    /// The body as it came, for the step's typed result (``SagaAction/acceptResult(step:command:)``).
    let body: [UInt8]

    init(_ delivery: AMQPDelivery) throws {
        try self.init(properties: delivery.properties, body: delivery.body)
    }

    init(properties: AMQPProperties, body bytes: [UInt8]) throws {
        let envelope = try SagaEnvelope(properties)
        guard let sagaID = UUID(uuidString: envelope.sagaID) else {
            throw MalformedMessage("reply's correlation_id \(envelope.sagaID) is not a saga id")
        }
        let body: ReplyBody<Empty>
        do {
            body = try JSONDecoder().decode(ReplyBody<Empty>.self, from: Data(bytes))
        } catch {
            throw MalformedMessage("reply body is not a reply: \(error)")
        }
        self.messageID = envelope.messageID
        self.type = envelope.type
        self.sagaID = sagaID
        self.step = envelope.step
        self.phase = envelope.phase
        self.attempt = envelope.attempt
        self.body = bytes
        switch body.outcome {
        case .succeeded: outcome = .succeeded
        case .failed: outcome = .failed(reason: [body.reason, body.detail].compactMap { $0 }.joined(separator: ": "))
        }
    }
}

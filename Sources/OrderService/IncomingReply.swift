import AMQP
import Foundation
import Messaging
import SagaCore

/// A reply as the order service receives it, its envelope checked.
struct IncomingReply {
    let messageID: String
    let type: String
    let sagaID: UUID
    let step: String
    let phase: StepPhase
    let attempt: Int
    let outcome: StepReply.Outcome

    init(_ delivery: AMQPDelivery) throws {
        let envelope = try SagaEnvelope(delivery.properties)
        guard let sagaID = UUID(uuidString: envelope.sagaID) else {
            throw MalformedMessage("reply's correlation_id \(envelope.sagaID) is not a saga id")
        }
        let body: ReplyBody<Empty>
        do {
            body = try JSONDecoder().decode(ReplyBody<Empty>.self, from: Data(delivery.body))
        } catch {
            throw MalformedMessage("reply body is not a reply: \(error)")
        }
        self.messageID = envelope.messageID
        self.type = envelope.type
        self.sagaID = sagaID
        self.step = envelope.step
        self.phase = envelope.phase
        self.attempt = envelope.attempt
        switch body.outcome {
        case .succeeded: outcome = .succeeded
        case .failed: outcome = .failed(reason: [body.reason, body.detail].compactMap { $0 }.joined(separator: ": "))
        }
    }
}

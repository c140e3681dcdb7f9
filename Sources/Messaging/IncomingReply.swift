import AMQP
import Foundation
import SagaCore

/// A participant's reply as the order service receives it: its envelope and outcome parsed once,
/// here beside ``IncomingCommand``. A reply that is not one throws ``MalformedMessage``.
public struct IncomingReply: Sendable {
    public let messageID: String
    public let type: String
    public let sagaID: UUID
    public let step: String
    public let phase: StepPhase
    public let attempt: Int
    public let outcome: StepReply.Outcome
    /// The body as it came, for the step's typed result (`SagaAction.acceptResult`).
    public let body: [UInt8]
    /// The span of the worker that handled the command, if the reply says.
    public let traceparent: String?

    public init(_ delivery: AMQPDelivery) throws {
        try self.init(properties: delivery.properties, body: delivery.body)
    }

    public init(properties: AMQPProperties, body bytes: [UInt8]) throws {
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
        self.traceparent = envelope.traceparent
        switch body.outcome {
        case .succeeded: outcome = .succeeded
        case .failed: outcome = .failed(reason: [body.reason, body.detail].compactMap { $0 }.joined(separator: ": "))
        }
    }
}

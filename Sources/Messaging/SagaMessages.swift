import AMQP
import Foundation
import Logging
import SagaCore

/// How saga commands and replies look on the wire, in one place for the order service and the
/// workers. Any AMQP client can read and publish them:
///
/// - `message_id`: `<saga>:<step>:<phase>:<attempt>` for a command, the same plus `:reply` for its
///   reply, so every resend of one attempt carries the same id and the inbox drops copies.
/// - `correlation_id`: the saga id; `type`: the command (`catalog.reserve_inventory`) or
///   `<command>.reply`; `reply_to`: `order-service.replies`.
/// - headers `step`, `phase` (`command` or `compensation`), `attempt`, and W3C `traceparent`.
/// - body: the command's JSON payload; a reply's is ``ReplyBody``.
public enum SagaMessages {
    public static func commandMessageID(sagaID: String, step: String, phase: StepPhase, attempt: Int) -> String {
        "\(sagaID):\(step):\(phase.rawValue):\(attempt)"
    }

    /// A command or compensation for `message`, routed to its participant's queue.
    public static func command(sagaID: String, message: StepMessage, payload: String, traceparent: String) -> OutboxMessage {
        OutboxMessage(
            messageID: commandMessageID(sagaID: sagaID, step: message.step, phase: message.phase, attempt: message.attempt),
            exchange: SagaTopology.commandsExchange,
            routingKey: message.participant,
            type: message.type,
            correlationID: sagaID,
            replyTo: SagaTopology.repliesQueue,
            headers: [
                "step": .string(message.step), "phase": .string(message.phase.rawValue),
                "attempt": .int(Int64(message.attempt)), "traceparent": .string(traceparent),
            ],
            body: payload)
    }

    /// The reply to `command` with `outcome`, carrying `traceparent` (the span that handled it;
    /// by default the command's own).
    public static func reply(to command: IncomingCommand, outcome: CommandOutcome, traceparent: String? = nil) throws -> OutboxMessage {
        OutboxMessage(
            messageID: command.messageID + ":reply",
            exchange: SagaTopology.repliesExchange,
            routingKey: command.replyTo,
            type: command.type + ".reply",
            correlationID: command.sagaID,
            headers: [
                "step": .string(command.step), "phase": .string(command.phase.rawValue),
                "attempt": .int(Int64(command.attempt)), "traceparent": .string(traceparent ?? command.traceparent),
            ],
            body: try outcome.replyJSON())
    }

    /// A W3C trace context for a new saga: version 00, random trace and span ids, sampled.
    public static func newTraceparent() -> String {
        func hex(_ bytes: Int) -> String {
            let digits = Array("0123456789abcdef".utf8)
            var text: [UInt8] = []
            text.reserveCapacity(bytes * 2)
            for _ in 0..<bytes {
                let byte = UInt8.random(in: 0...255)
                text.append(digits[Int(byte >> 4)])
                text.append(digits[Int(byte & 0x0F)])
            }
            return String(decoding: text, as: UTF8.self)
        }
        return "00-\(hex(16))-\(hex(8))-01"
    }
}

/// A reply's body: `{"outcome":"succeeded","data":{…}}` or
/// `{"outcome":"failed","reason":"out_of_stock","detail":"…"}`.
public struct ReplyBody<Payload: Decodable & Sendable>: Decodable, Sendable {
    public enum Outcome: String, Codable, Sendable { case succeeded, failed }
    public var outcome: Outcome
    public var reason: String?
    public var detail: String?
    public var data: Payload?
}

/// What a participant did with a command.
public enum CommandOutcome: Sendable {
    /// Done; `data` goes back to the saga.
    case succeeded(any Encodable & Sendable)
    /// A business refusal (out of stock, card declined): a failed reply, not an error. Nothing changed.
    case refused(reason: String, detail: String)

    func replyJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        switch self {
        case .succeeded(let payload):
            data = try encoder.encode(SucceededBody(data: AnyEncodable(payload)))
        case .refused(let reason, let detail):
            data = try encoder.encode(FailedBody(reason: reason, detail: detail))
        }
        return String(decoding: data, as: UTF8.self)
    }

    private struct SucceededBody: Encodable {
        var outcome = "succeeded"
        let data: AnyEncodable
    }

    private struct FailedBody: Encodable {
        var outcome = "failed"
        let reason: String
        let detail: String
    }

    private struct AnyEncodable: Encodable {
        let value: any Encodable
        init(_ value: any Encodable) { self.value = value }
        func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
    }
}

/// A command as a participant receives it, its envelope checked.
public struct IncomingCommand: Sendable {
    public let messageID: String
    public let type: String
    public let sagaID: String
    public let step: String
    public let phase: StepPhase
    public let attempt: Int
    public let replyTo: String
    public let traceparent: String
    public let body: [UInt8]

    /// A command built directly (tests, tools); `messageID` follows the saga convention.
    public init(type: String, sagaID: String, step: String, phase: StepPhase, attempt: Int = 1, body: String) {
        self.messageID = SagaMessages.commandMessageID(sagaID: sagaID, step: step, phase: phase, attempt: attempt)
        self.type = type
        self.sagaID = sagaID
        self.step = step
        self.phase = phase
        self.attempt = attempt
        self.replyTo = SagaTopology.repliesQueue
        self.traceparent = SagaMessages.newTraceparent()
        self.body = Array(body.utf8)
    }

    /// Reads the envelope; a message without what a command needs is malformed.
    public init(_ delivery: AMQPDelivery) throws(MalformedMessage) {
        let envelope = try SagaEnvelope(delivery.properties)
        guard let replyTo = delivery.properties.replyTo, !replyTo.isEmpty else { throw MalformedMessage("no reply_to") }
        self.messageID = envelope.messageID
        self.type = envelope.type
        self.sagaID = envelope.sagaID
        self.step = envelope.step
        self.phase = envelope.phase
        self.attempt = envelope.attempt
        self.replyTo = replyTo
        self.traceparent = envelope.traceparent ?? SagaMessages.newTraceparent()
        self.body = delivery.body
    }

    /// The JSON payload as `T`; a payload that does not decode is malformed.
    public func payload<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(body))
        } catch {
            throw MalformedMessage("\(self.type) payload is not a valid \(T.self): \(error)")
        }
    }
}

/// What every saga command and reply carries in its AMQP properties: `message_id`, `type`,
/// `correlation_id` (the saga) and the `step`, `phase` and `attempt` headers.
public struct SagaEnvelope: Sendable, Equatable {
    public let messageID: String
    public let type: String
    public let sagaID: String
    public let step: String
    public let phase: StepPhase
    public let attempt: Int
    public let traceparent: String?

    /// A message without all of it is malformed.
    public init(_ properties: AMQPProperties) throws(MalformedMessage) {
        guard let messageID = properties.messageID, !messageID.isEmpty else { throw MalformedMessage("no message_id") }
        guard let type = properties.type, !type.isEmpty else { throw MalformedMessage("no type") }
        guard let sagaID = properties.correlationID, !sagaID.isEmpty else { throw MalformedMessage("no correlation_id (saga id)") }
        guard case .string(let step)? = properties.headers["step"] else { throw MalformedMessage("no step header") }
        guard case .string(let phaseText)? = properties.headers["phase"], let phase = StepPhase(rawValue: phaseText) else {
            throw MalformedMessage("no phase header (command or compensation)")
        }
        guard case .int(let attempt)? = properties.headers["attempt"], attempt > 0 else { throw MalformedMessage("no attempt header") }
        self.messageID = messageID
        self.type = type
        self.sagaID = sagaID
        self.step = step
        self.phase = phase
        self.attempt = Int(attempt)
        if case .string(let traceparent)? = properties.headers["traceparent"] {
            self.traceparent = traceparent
        } else {
            self.traceparent = nil
        }
    }
}

extension AMQPProperties {
    /// What a log line about this message carries, as far as the message has it (a malformed one
    /// may lack any): `saga_id`, `step`, `message_id`, `trace_id` (of the W3C `traceparent`), `type`.
    public var logMetadata: Logger.Metadata {
        var metadata: Logger.Metadata = ["message_id": "\(messageID ?? "-")"]
        if let correlationID, !correlationID.isEmpty { metadata["saga_id"] = "\(correlationID)" }
        if case .string(let step)? = headers["step"] { metadata["step"] = "\(step)" }
        if case .string(let traceparent)? = headers["traceparent"], let traceID = SagaMessages.traceID(of: traceparent) {
            metadata["trace_id"] = "\(traceID)"
        }
        if let type { metadata["type"] = "\(type)" }
        return metadata
    }
}

extension SagaMessages {
    /// The trace id of a W3C `traceparent` (`00-<trace id>-<parent id>-<flags>`), if it is one.
    public static func traceID(of traceparent: String) -> Substring? {
        let parts = traceparent.split(separator: "-")
        guard parts.count == 4, parts[1].count == 32 else { return nil }
        return parts[1]
    }
}

import Foundation
import Messaging
import SagaCore
import Tracing

/// The order service's spans of a saga (``MessageTracing`` says how a trace crosses processes):
/// one per reply it handles, child of the worker's span that sent the reply, and one per step,
/// from its first attempt to the input that ended it, child of the saga's `start` span.
enum SagaTracing {
    /// A span for handling `reply`: ended by the caller.
    static func handling(_ reply: IncomingReply) -> any Span {
        let name = reply.phase == .command ? "reply \(reply.step)" : "reply \(reply.step) compensation"
        // The context is an autoclosure: the no-op tracer never reads the header.
        let span = startSpan(name, context: reply.traceparent.map(MessageTracing.context(ofTraceparent:)) ?? .topLevel, ofKind: .consumer)
        guard span.isRecording else { return span }
        MessageTracing.describe(
            span, sagaID: reply.sagaID.uuidString.lowercased(), step: reply.step, messageID: reply.messageID,
            destination: SagaTopology.repliesQueue)
        span.attributes["messaging.operation.type"] = "process"
        return span
    }

    /// The span of a step's command or compensation that ended: it began and ended in the past,
    /// by the database's clock (a step whose start was not kept gets none).
    static func record(_ end: StepEnd, sagaID: UUID, traceparent: String) {
        guard let startedAt = end.startedAt else { return }
        let name = end.phase == .command ? "step \(end.step)" : "compensate \(end.step)"
        let span = startSpan(
            name, context: MessageTracing.context(ofTraceparent: traceparent), ofKind: .internal, at: instant(startedAt))
        guard span.isRecording else { return }
        span.updateAttributes { attributes in
            attributes["saga.id"] = sagaID.uuidString.lowercased()
            attributes["saga.step"] = end.step
            attributes["saga.phase"] = end.phase.rawValue
            attributes["saga.step.outcome"] = end.outcome.rawValue
            attributes["saga.step.attempts"] = end.attempts
        }
        switch end.outcome {
        case .failed, .timedOut: span.setStatus(SpanStatus(code: .error, message: end.outcome.rawValue))
        default: span.setStatus(SpanStatus(code: .ok))
        }
        span.end(at: instant(end.endedAt))
    }

    static func instant(_ time: SagaTime) -> DefaultTracerClock.Timestamp {
        DefaultTracerClock.Timestamp(nanosecondsSinceEpoch: UInt64(max(0, time.millisecondsSince1970)) * 1_000_000)
    }
}

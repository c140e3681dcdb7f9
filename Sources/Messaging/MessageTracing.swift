import AMQP
import Tracing

/// How a saga's trace crosses processes: the W3C `traceparent` header of every command, reply and
/// event carries the span that caused the message, so one checkout is one trace across the six
/// processes (swift-distributed-tracing; exported by whichever tracer the process bootstrapped,
/// OTLP through swift-otel when `tracing.endpoint` is set).
///
/// With no tracer (the default), spans are no-ops and ``traceparent(of:)`` is `nil`: messages then
/// carry the saga's own `traceparent`, made when the saga began, so log lines still share one
/// trace id per saga.
public enum MessageTracing {
    /// The context a message's `traceparent` (and `tracestate`) header describes.
    public static func context(of headers: [String: AMQPHeaderValue]) -> ServiceContext {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(headers, into: &context, using: HeadersExtractor())
        return context
    }

    /// The context a stored `traceparent` describes: a saga's root, for the spans of its steps.
    public static func context(ofTraceparent traceparent: String) -> ServiceContext {
        context(of: ["traceparent": .string(traceparent)])
    }

    /// `context` as a W3C `traceparent`, or `nil` when no tracer runs (or it has no span).
    public static func traceparent(of context: ServiceContext) -> String? {
        var headers: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &headers, using: DictionaryInjector())
        return headers["traceparent"]
    }

    /// The `traceparent` a message sent within `span` carries: the span's, or `fallback` with no tracer.
    public static func traceparent(of span: any Span, or fallback: String) -> String {
        traceparent(of: span.context) ?? fallback
    }

    /// A span for handling `command`, child of the span that sent it: ended by the caller.
    public static func handling(_ command: IncomingCommand, participant: String) -> any Span {
        let name = command.phase == .command ? "handle \(command.step)" : "handle \(command.step) compensation"
        let span = startSpan(name, context: context(ofTraceparent: command.traceparent), ofKind: .consumer)
        guard span.isRecording else { return span }  // the no-op tracer: no attributes to build
        describe(span, sagaID: command.sagaID, step: command.step, messageID: command.messageID, destination: SagaTopology.commandQueue(participant))
        span.attributes["messaging.operation.type"] = "process"
        span.attributes["saga.attempt"] = command.attempt
        return span
    }

    /// Attributes every span about a saga message carries (OpenTelemetry's messaging conventions
    /// and the saga's own).
    public static func describe(_ span: any Span, sagaID: String, step: String, messageID: String, destination: String) {
        guard span.isRecording else { return }
        span.updateAttributes { attributes in
            attributes["messaging.system"] = "rabbitmq"
            attributes["messaging.destination.name"] = destination
            attributes["messaging.message.id"] = messageID
            attributes["saga.id"] = sagaID
            attributes["saga.step"] = step
        }
    }

    struct HeadersExtractor: Extractor {
        func extract(key: String, from headers: [String: AMQPHeaderValue]) -> String? {
            if case .string(let value)? = headers[key] { return value }
            return nil
        }
    }

    struct DictionaryInjector: Injector {
        func inject(_ value: String, forKey key: String, into headers: inout [String: String]) {
            headers[key] = value
        }
    }
}

import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Where a process's spans go: over OTLP/HTTP to a collector (Jaeger, Tempo, the OpenTelemetry
/// Collector) when `tracing.endpoint` is set, through swift-otel; nowhere otherwise (the no-op
/// tracer, which costs nothing).
///
/// The standard `OTEL_*` variables tune the rest: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json`,
/// `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_SCHEDULE_DELAY`, … An
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT`) in the environment turns tracing on too.
public enum ProcessTracing {
    /// Bootstraps the process's tracer, once, first thing in `main`. Returns the exporter's
    /// Service, which sends the spans in batches and flushes them on shutdown: run it with the
    /// process's others. `nil`: tracing is off.
    public static func bootstrap(
        service: String, endpoint: String, environment: [String: String], logger: Logger
    ) throws -> (any Service)? {
        let standard = environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? environment["OTEL_EXPORTER_OTLP_ENDPOINT"]
        guard !endpoint.isEmpty || standard != nil else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = service
        configuration.logs.enabled = false  // logs: ServiceLogHandler
        configuration.metrics.enabled = false  // metrics: Prometheus at /metrics
        configuration.traces.exporter = .otlp
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        if !endpoint.isEmpty { configuration.traces.otlpExporter.endpoint = tracesURL(endpoint) }
        configuration.traces.batchSpanProcessor.scheduleDelay = .seconds(1)
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(backend.factory)
        logger.info("exporting spans over OTLP/HTTP", metadata: [
            "endpoint": "\(endpoint.isEmpty ? standard ?? "" : tracesURL(endpoint))", "setting": "tracing.endpoint",
        ])
        return backend.service
    }

    /// A collector's base URL (`http://host:4318`, as `OTEL_EXPORTER_OTLP_ENDPOINT` has it) with
    /// the traces path; a URL that names a path already is kept.
    static func tracesURL(_ endpoint: String) -> String {
        let trimmed = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        return trimmed.hasSuffix("/v1/traces") ? trimmed : trimmed + "/v1/traces"
    }
}

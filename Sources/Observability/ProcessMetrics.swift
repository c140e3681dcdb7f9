import CoreMetrics
import Prometheus

/// Where a process's swift-metrics go: the Prometheus registry it serves at `GET /metrics`, beside
/// its own counters. Hummingbird's HTTP metrics, the PostgreSQL pool's waits and reconnects, the
/// broker connection's reconnects and the outbox relay's publish latency are swift-metrics, made
/// wherever they happen; this sends them all to one place.
///
/// Bootstrap once, first thing in `main`, before any pool or connection is made: a metric made
/// before it keeps the no-op handler. Tests run several services in one process and do not
/// bootstrap, so those metrics are no-ops there.
public enum ProcessMetrics {
    public static func bootstrap(_ registry: PrometheusCollectorRegistry) {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.nameAndLabelSanitizer = { name, labels in
            (prometheusName(name), labels.map { (prometheusName($0.0), $0.1) })
        }
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)
    }

    /// Prometheus names have no dots: `http.server.request.duration` → `http_server_request_duration_seconds`.
    /// Hummingbird's `hb.*` counters get the usual `http_…_total` names.
    public static func prometheusName(_ name: String) -> String {
        switch name {
        case "hb.requests": "http_requests_total"
        case "hb.request.errors": "http_request_errors_total"
        case "http.server.request.duration": "http_server_request_duration_seconds"
        default: String(name.map { $0 == "." || $0 == "-" ? "_" : $0 })
        }
    }
}

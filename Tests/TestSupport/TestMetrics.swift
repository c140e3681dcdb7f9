import Observability
import Prometheus

/// The test process's swift-metrics, sent to one registry as a service process sends them to the
/// one it serves (``ProcessMetrics``). Bootstrapped on first use, once: swift-metrics allows one
/// bootstrap per process. Metrics made before it (by tests that ran earlier) stay no-ops.
public enum TestMetrics {
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        ProcessMetrics.bootstrap(registry)
        return registry
    }()
}

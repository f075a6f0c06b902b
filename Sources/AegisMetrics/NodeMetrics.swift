// NodeMetrics.swift — the node's Prometheus metrics (swift-metrics API, swift-prometheus
// exposition). The metrics sidecar of the controller pod will serve the same registry.
import Metrics
import Prometheus

public final class NodeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    /// Bootstraps the process-wide MetricsSystem once with a Prometheus registry.
    public static let shared = NodeMetrics()

    private init() {
        registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// Prometheus text exposition format 0.0.4.
    public func render() -> String { registry.emitToString() }
}

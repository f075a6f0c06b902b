// GatewayMetrics.swift — the gateway's Prometheus series, in a registry of its own (as
// ControllerMetrics), served on the gateway's admin socket (`aegis gateway --admin-socket`) for the
// metrics sidecar. Labels come from fixed sets only: a request class derived from the path (never
// the path itself, a tenant or an id), the status code, a rejection reason. Every series with a
// fixed label set exists from the start (at 0); `aegis_gateway_requests_total` gets one series per
// (class, code) met, at most 7 × 501.
//
// Recording is cheap and thread-safe (atomic counters and gauges, a lock around the lazily made
// request counters), so the gateway records on its request path without awaiting anything.
import AegisProtocol
import Prometheus
import Synchronization

/// The class of a request the gateway handled, from its path (a small fixed set).
public enum GatewayRequestClass: String, Sendable, CaseIterable {
    /// The tenant and admin API (`/v1/…` except what follows).
    case api
    /// A workload's log stream (`/v1/workloads/:id/logs`, Server-Sent Events when followed).
    case logs
    /// A worker's node session (`/v1/cluster/session`, a WebSocket upgrade).
    case session
    /// Joining the cluster: `/v1/cluster/join` and the CA it pins (`/v1/cluster/ca`).
    case join
    /// Health probes forwarded to the controller (`/healthz`, `/readyz`).
    case probe
    /// The controller's `/metrics` read through the gateway.
    case metrics
    /// Anything else.
    case other

    /// The class of a request for `path` (without the query).
    public init(path: String) {
        switch path {
        case NodeSession.path: self = .session
        case "/v1/cluster/join", "/v1/cluster/ca": self = .join
        case "/healthz", "/readyz": self = .probe
        case "/metrics": self = .metrics
        default:
            if path.hasPrefix("/v1/workloads/") && path.hasSuffix("/logs") {
                self = .logs
            } else if path.hasPrefix("/v1/") {
                self = .api
            } else {
                self = .other
            }
        }
    }
}

/// Why the gateway answered a request itself instead of the controller.
public enum GatewayRejection: String, Sendable, CaseIterable {
    /// A tenant's (or an unknown token's, or a client IP's) token bucket was empty: 429.
    case rateLimited = "rate_limited"
    /// A tenant had `--max-concurrent` requests in flight: 429.
    case concurrency
    /// Join attempts of one client IP over their own bucket: 429.
    case joinRateLimited = "join_rate_limited"
    /// The request body passed `--max-body-bytes` (by Content-Length or as it streamed): 413.
    case bodyTooLarge = "body_too_large"
    /// An unusable request (a Content-Length that is no number, a target that is no path): 400.
    case badRequest = "bad_request"
    /// A client certificate of the cluster CA that fails the node-certificate checks: 403.
    case forbidden
    /// The controller's socket could not be reached or gave no usable answer: 502.
    case upstreamUnavailable = "upstream_unavailable"
    /// The controller sent no response head within the timeout: 504.
    case upstreamTimeout = "upstream_timeout"
}

/// The gateway's series:
/// - `aegis_gateway_requests_total{class,code}` counter: requests answered, by class and status
///   code (101 for a session; 499 for a client gone before the answer);
/// - `aegis_gateway_request_duration_seconds{class}` histogram: time until the response head;
/// - `aegis_gateway_rejections_total{reason}` counter: requests the gateway refused itself;
/// - `aegis_gateway_sessions_open` gauge and `aegis_gateway_sessions_total` counter: node sessions;
/// - `aegis_gateway_requests_in_flight` gauge: HTTP requests being handled (sessions excluded);
/// - `aegis_gateway_draining` gauge: 1 once the gateway shuts down gracefully.
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    let durations: [GatewayRequestClass: ValueHistogram]
    let rejections: [GatewayRejection: Counter]
    let sessionsOpen: Gauge
    let sessionsTotal: Counter
    let inFlight: Gauge
    let draining: Gauge
    /// `aegis_gateway_requests_total` by "class code".
    let requests = Mutex<[String: Counter]>([:])

    /// - Parameter registry: where the series live (a new one by default).
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        func descriptor(_ name: String) -> MetricNameDescriptor { GatewayMetrics.descriptor(name) }
        durations = Dictionary(
            uniqueKeysWithValues: GatewayRequestClass.allCases.map {
                let d = descriptor("aegis_gateway_request_duration_seconds")
                return ($0, registry.makeValueHistogram(descriptor: d, labels: [("class", $0.rawValue)], buckets: Self.buckets))
            })
        rejections = Dictionary(
            uniqueKeysWithValues: GatewayRejection.allCases.map {
                ($0, registry.makeCounter(descriptor: descriptor("aegis_gateway_rejections_total"), labels: [("reason", $0.rawValue)]))
            })
        sessionsOpen = registry.makeGauge(descriptor: descriptor("aegis_gateway_sessions_open"))
        sessionsTotal = registry.makeCounter(descriptor: descriptor("aegis_gateway_sessions_total"))
        inFlight = registry.makeGauge(descriptor: descriptor("aegis_gateway_requests_in_flight"))
        draining = registry.makeGauge(descriptor: descriptor("aegis_gateway_draining"))
    }

    /// A request of `requestClass` got its response head with `code` after `seconds`.
    public func recordRequest(_ requestClass: GatewayRequestClass, code: Int, seconds: Double) {
        let codeText = (100...599).contains(code) ? String(code) : "other"
        let key = requestClass.rawValue + " " + codeText
        let counter = requests.withLock { made in
            if let counter = made[key] { return counter }
            let counter = registry.makeCounter(
                descriptor: Self.descriptor("aegis_gateway_requests_total"),
                labels: [("class", requestClass.rawValue), ("code", codeText)])
            made[key] = counter
            return counter
        }
        counter.increment()
        durations[requestClass]?.record(max(0, seconds))
    }

    /// A request of `requestClass` whose handling began at `start` got its head with `code` now.
    public func recordRequest(_ requestClass: GatewayRequestClass, code: Int, since start: ContinuousClock.Instant) {
        recordRequest(requestClass, code: code, seconds: (ContinuousClock.now - start).seconds)
    }

    /// The gateway refused a request for `reason`.
    public func recordRejection(_ reason: GatewayRejection) { rejections[reason]?.increment() }

    /// A node session's tunnel is open (its 101 sent).
    public func sessionOpened() {
        sessionsTotal.increment()
        sessionsOpen.increment()
    }

    /// A node session's tunnel closed.
    public func sessionClosed() { sessionsOpen.decrement() }

    /// An HTTP request began being handled.
    public func requestStarted() { inFlight.increment() }

    /// An HTTP request's handling ended (answered, failed or abandoned).
    public func requestEnded() { inFlight.decrement() }

    /// Whether the gateway drains (shuts down gracefully).
    public func setDraining(_ on: Bool) { draining.set(to: on ? 1.0 : 0.0) }

    /// The series in `format`.
    public func render(_ format: ExpositionFormat) -> Exposition {
        Exposition(prometheusText: registry.emitToBuffer(), as: format)
    }

    /// The series in the format an Accept header asks for (`ExpositionFormat.negotiate`).
    public func render(accept: String?) -> Exposition { render(ExpositionFormat.negotiate(accept: accept)) }

    /// Bounds of `aegis_gateway_request_duration_seconds`, seconds (up to the 30 s head timeout).
    static let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

    static let help: [String: String] = [
        "aegis_gateway_requests_total":
            "Requests the gateway answered, by class (api, logs, session, join, probe, metrics, other) and status code "
            + "(101: a session opened; 499: the client left before the answer).",
        "aegis_gateway_request_duration_seconds": "Time until a response head was sent, seconds, by request class.",
        "aegis_gateway_rejections_total":
            "Requests the gateway refused itself, by reason: rate_limited, concurrency, join_rate_limited, body_too_large, "
            + "bad_request, forbidden, upstream_unavailable, upstream_timeout.",
        "aegis_gateway_sessions_open": "Node sessions (WebSocket tunnels to the controller) open now.",
        "aegis_gateway_sessions_total": "Node sessions opened.",
        "aegis_gateway_requests_in_flight": "HTTP requests being handled now (node sessions not included).",
        "aegis_gateway_draining": "1 while the gateway shuts down gracefully, else 0.",
    ]

    static func descriptor(_ name: String) -> MetricNameDescriptor {
        let text = help[name]
        assert(text != nil, "no help text for \(name) in GatewayMetrics.help")
        return MetricNameDescriptor(metricName: name, unitName: "", helpText: text ?? name)
    }
}

// ControllerMetrics.swift — the controller's Prometheus series, in a registry of its own (never the
// process-wide MetricsSystem: tests and several controllers in one process don't share series).
// Names follow the Prometheus conventions: `aegis_` prefix, base units (seconds, bytes, cores),
// `_total` only on counters. Labels come from bounded sets only — reason classes, node
// conditions, node names, route templates, HTTP methods and statuses — never a workload id or a
// tenant name. Every series with a fixed label set exists from the start (at 0), so the number of
// series does not change with the workloads that come and go.
//
// Recording is cheap and thread-safe (atomic counters and gauges; histograms and the few
// dictionaries behind locks), so the controller records on its hot paths (lease renewals,
// placements) without awaiting anything.
import AegisProtocol
import Prometheus
import Synchronization

/// The controller's series (help texts in MetricsHelp.swift):
/// - `aegis_scheduling_pass_duration_seconds` histogram; `aegis_pending_workloads{reason_class}` gauge;
///   `aegis_placements_total` counter; `aegis_dispatch_to_start_seconds` histogram;
/// - `aegis_lease_renewals_total`, `aegis_node_transitions_total{to}` (Ready, NotReady, Down),
///   `aegis_rescheduled_workloads_total` counters;
/// - `aegis_store_write_duration_seconds{op}` histogram (insert, placement, update, node);
/// - `aegis_api_requests_total{route,method,status}` counter, `aegis_api_request_duration_seconds{route,method}` histogram;
/// - per node (`setNodes`, NodeSeries.swift), gauges labelled `node`: `aegis_node_cpu_cores` and
///   `aegis_node_cpu_allocated_cores`, `aegis_node_memory_bytes` and `aegis_node_memory_allocated_bytes`,
///   `aegis_node_gpus` and `aegis_node_gpus_allocated` (nodes with GPUs), `aegis_node_cordoned`,
///   `aegis_node_condition{node,condition}` (one series, the current condition, at 1), and from
///   renewals `aegis_node_running_sandboxes`.
public final class ControllerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    let schedulingPass: ValueHistogram
    let pending: [PendingReasonClass: Gauge]
    let placements: Counter
    let dispatchToStart: ValueHistogram
    let leaseRenewals: Counter
    let transitions: [NodeCondition: Counter]
    let rescheduled: Counter
    let storeWrites: [StoreWriteKind: ValueHistogram]
    let api = Mutex<APISeries>(APISeries())
    /// The nodes whose series the next render writes (NodeSeries.swift).
    let nodes = Mutex<[NodeInfo]>([])
    let dispatches = DispatchClock()

    /// - Parameter registry: where the series live (a new one by default; pass one to expose them
    ///   together with other series).
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        func histogram(_ name: String, _ buckets: [Double], _ labels: [(String, String)] = []) -> ValueHistogram {
            registry.makeValueHistogram(descriptor: MetricsHelp.descriptor(name), labels: labels, buckets: buckets)
        }
        func counter(_ name: String, _ labels: [(String, String)] = []) -> Counter {
            registry.makeCounter(descriptor: MetricsHelp.descriptor(name), labels: labels)
        }
        schedulingPass = histogram("aegis_scheduling_pass_duration_seconds", Buckets.pass)
        pending = Dictionary(
            uniqueKeysWithValues: PendingReasonClass.allCases.map { reasonClass in
                let descriptor = MetricsHelp.descriptor("aegis_pending_workloads")
                return (reasonClass, registry.makeGauge(descriptor: descriptor, labels: [("reason_class", reasonClass.rawValue)]))
            })
        placements = counter("aegis_placements_total")
        dispatchToStart = histogram("aegis_dispatch_to_start_seconds", Buckets.start)
        leaseRenewals = counter("aegis_lease_renewals_total")
        transitions = Dictionary(
            uniqueKeysWithValues: [NodeCondition.ready, .notReady, .down].map {
                ($0, counter("aegis_node_transitions_total", [("to", $0.rawValue)]))
            })
        rescheduled = counter("aegis_rescheduled_workloads_total")
        storeWrites = Dictionary(
            uniqueKeysWithValues: StoreWriteKind.allCases.map {
                ($0, histogram("aegis_store_write_duration_seconds", Buckets.store, [("op", $0.rawValue)]))
            })
    }

    // MARK: scheduling

    /// One scheduling pass took `seconds`.
    public func recordSchedulingPass(seconds: Double) { schedulingPass.record(seconds) }

    /// One scheduling pass started at `started` ended now.
    public func recordSchedulingPass(since started: ContinuousClock.Instant) {
        schedulingPass.record((ContinuousClock.now - started).seconds)
    }

    /// The pending workloads after a pass, by class; classes missing from `counts` are set to 0.
    public func setPendingWorkloads(_ counts: [PendingReasonClass: Int]) {
        for (reasonClass, gauge) in pending { gauge.set(Double(counts[reasonClass] ?? 0)) }
    }

    /// `count` placements were committed to the store.
    public func recordPlacements(_ count: Int) {
        if count > 0 { placements.increment(by: Int64(count)) }
    }

    /// A placement's start was sent to its worker at `at` (its `started` event is timed from here).
    public func recordDispatch(workload: String, generation: Int64, at: ContinuousClock.Instant = .now) {
        dispatches.dispatched(workload, generation: generation, at: at)
    }

    /// The worker reported the placement started at `at`: observes the time since its dispatch
    /// (nothing when this controller did not dispatch that generation).
    public func recordStarted(workload: String, generation: Int64, at: ContinuousClock.Instant = .now) {
        guard let sent = dispatches.take(workload, generation: generation) else { return }
        dispatchToStart.record(max(0, (at - sent).seconds))
    }

    /// The placement ended without a `started` (failed to start, lost, its image not pulled):
    /// forgets its dispatch.
    public func forgetDispatch(workload: String, generation: Int64) {
        _ = dispatches.take(workload, generation: generation)
    }

    // MARK: leases and nodes

    /// One successful lease renewal.
    public func recordLeaseRenewal() { leaseRenewals.increment() }

    /// A node's lease made it `to` (Ready, NotReady or Down).
    public func recordNodeTransition(to: NodeCondition) {
        (transitions[to] ?? counter("aegis_node_transitions_total", [("to", to.rawValue)])).increment()
    }

    /// `count` agents of a Down node were made pending again to be placed elsewhere.
    public func recordRescheduled(_ count: Int = 1) {
        if count > 0 { rescheduled.increment(by: Int64(count)) }
    }

    /// The nodes to expose (see `NodeSeries`): their capabilities, `allocated`, `state`, `cordoned`
    /// and `live` report. Nodes not listed have no series from the next render on.
    public func setNodes(_ nodes: [NodeInfo]) { self.nodes.withLock { $0 = nodes } }

    /// Removes the series of one node (until the next `setNodes` lists it).
    public func removeNode(_ name: String) { nodes.withLock { $0.removeAll { $0.name == name } } }

    // MARK: store and API

    /// One store write of kind `op` took `seconds` (its whole transaction).
    public func recordStoreWrite(_ op: StoreWriteKind, seconds: Double) { storeWrites[op]?.record(seconds) }

    /// One API request answered: `route` is the router's template (`/v1/workloads/:id`, never the
    /// path), `method` an HTTP method, `status` the response status; `seconds` until the response
    /// head was ready. A method outside the standard ones is counted as `other`.
    public func recordAPIRequest(route: String, method: String, status: Int, seconds: Double) {
        let method = APISeries.methods.contains(method) ? method : "other"
        let (counter, histogram) = api.withLock { $0.series(route: route, method: method, status: status, registry: registry) }
        counter.increment()
        histogram.record(seconds)
    }

    // MARK: exposition

    /// The series in `format`: the registry's, then the node series.
    public func render(_ format: ExpositionFormat) -> Exposition {
        var text = registry.emitToBuffer()
        NodeSeries.render(nodes.withLock { $0 }, into: &text)
        return Exposition(prometheusText: text, as: format)
    }

    /// The series in the format an Accept header asks for (`ExpositionFormat.negotiate`).
    public func render(accept: String?) -> Exposition { render(ExpositionFormat.negotiate(accept: accept)) }

    private func counter(_ name: String, _ labels: [(String, String)]) -> Counter {
        registry.makeCounter(descriptor: MetricsHelp.descriptor(name), labels: labels)
    }
}

/// What kind of store write `aegis_store_write_duration_seconds{op}` timed.
public enum StoreWriteKind: String, Sendable, CaseIterable {
    /// New workloads (a group commit of submissions).
    case insert
    /// Scheduling decisions (a group commit of placements).
    case placement
    /// A workload's state change or event.
    case update
    /// A node's row: registration, capabilities, lease state, cordon.
    case node
}

/// The API series made so far, by (route, method, status) and (route, method).
struct APISeries {
    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    var counters: [String: Counter] = [:]
    var histograms: [String: ValueHistogram] = [:]

    mutating func series(route: String, method: String, status: Int, registry: PrometheusCollectorRegistry) -> (Counter, ValueHistogram) {
        let key = route + " " + method
        let histogram =
            histograms[key]
            ?? registry.makeValueHistogram(
                descriptor: MetricsHelp.descriptor("aegis_api_request_duration_seconds"),
                labels: [("route", route), ("method", method)], buckets: Buckets.api)
        histograms[key] = histogram
        let counterKey = key + " \(status)"
        let counter =
            counters[counterKey]
            ?? registry.makeCounter(
                descriptor: MetricsHelp.descriptor("aegis_api_requests_total"),
                labels: [("route", route), ("method", method), ("status", String(status))])
        counters[counterKey] = counter
        return (counter, histogram)
    }
}

/// When each placement's start was sent, until its `started` (or its end) arrives. Bounded: at
/// `limit` entries, those older than `maxAge` are dropped; if none is, the new one is not kept.
final class DispatchClock: Sendable {
    static let limit = 100_000
    static let maxAge = Duration.seconds(600)
    private let sent = Mutex<[String: (generation: Int64, at: ContinuousClock.Instant)]>([:])

    func dispatched(_ id: String, generation: Int64, at: ContinuousClock.Instant) {
        sent.withLock { sent in
            if sent.count >= Self.limit && sent[id] == nil {
                sent = sent.filter { at - $0.value.at < Self.maxAge }
                guard sent.count < Self.limit else { return }
            }
            sent[id] = (generation, at)
        }
    }

    /// The dispatch instant of `id` at `generation`, removed; nil when there is none.
    func take(_ id: String, generation: Int64) -> ContinuousClock.Instant? {
        sent.withLock { sent in
            guard let entry = sent[id], entry.generation == generation else { return nil }
            sent[id] = nil
            return entry.at
        }
    }

    var count: Int { sent.withLock { $0.count } }
}

/// Histogram bucket bounds, seconds.
enum Buckets {
    static let pass = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    static let start = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
    static let store = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
    static let api = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
}

extension Duration {
    /// In seconds, with the fraction.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

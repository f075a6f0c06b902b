// MetricsHelp.swift — the catalogue of AEGIS series: each family's name and its HELP text (units
// and labels said there). ControllerMetrics and NodeSeries make their series from it, so a family
// never exists without help.
import Prometheus

enum MetricsHelp {
    static let text: [String: String] = [
        // controller
        "aegis_scheduling_pass_duration_seconds": "Duration of one scheduling pass over the pending workloads, seconds.",
        "aegis_pending_workloads":
            "Workloads pending after the last scheduling pass, by reason class: quota, capacity, gpu, runtime, constraint, "
            + "no_nodes, image_pull_backoff, restart_backoff, other.",
        "aegis_placements_total": "Placements committed to the store.",
        "aegis_dispatch_to_start_seconds":
            "Time from sending a placement's start to its worker until the worker reports it started, seconds.",
        "aegis_lease_renewals_total": "Lease renewals received from remote workers.",
        "aegis_node_transitions_total": "Node lease transitions, by the condition reached (Ready, NotReady, Down).",
        "aegis_rescheduled_workloads_total": "Agents of Down nodes made pending again to be placed elsewhere.",
        "aegis_store_write_duration_seconds":
            "Duration of the controller's store write transactions, seconds, by kind (insert, placement, update, node).",
        "aegis_api_requests_total": "API requests answered, by route template, method and status.",
        "aegis_api_request_duration_seconds": "Time until an API response head was ready, seconds, by route template and method.",
        // nodes
        "aegis_node_cpu_cores": "CPU of the node the scheduler places agents on (its capacity), cores.",
        "aegis_node_cpu_allocated_cores": "CPU reserved by the agents placed on the node, cores (free: aegis_node_cpu_cores minus this).",
        "aegis_node_memory_bytes": "Memory of the node the scheduler places agents on (its capacity), bytes.",
        "aegis_node_memory_allocated_bytes":
            "Memory reserved by the agents placed on the node, bytes (free: aegis_node_memory_bytes minus this).",
        "aegis_node_gpus": "GPUs of the node (nodes with GPUs only).",
        "aegis_node_gpus_allocated": "GPUs of the node assigned to agents (nodes with GPUs only; free: aegis_node_gpus minus this).",
        "aegis_node_cordoned": "1 when the node is cordoned (receives no new agents), else 0.",
        "aegis_node_condition":
            "The node's current condition (Ready, NotReady, Down, Stopping, Disconnected, Unknown), always 1: one series per node.",
        "aegis_node_running_sandboxes": "Sandboxes running on the node, as its worker last reported with a lease renewal.",
    ]

    /// The family `name` with its help text (a family missing from the catalogue is a programming
    /// error: it traps in debug builds).
    static func descriptor(_ name: String) -> MetricNameDescriptor {
        let help = text[name]
        assert(help != nil, "no help text for \(name) in MetricsHelp")
        return MetricNameDescriptor(metricName: name, unitName: "", helpText: help ?? name)
    }
}

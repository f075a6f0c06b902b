// NodeSeries.swift — every node's series, labelled by node name only (a bounded set: the
// cluster's nodes): what the scheduler holds on it (cpu, memory, GPUs allocated and free), its
// condition and cordon, and what its worker last reported with a lease renewal (`LiveCapacity`:
// running sandboxes, MemAvailable, load). They are rendered at scrape time from the latest list of
// nodes (a collector, as Prometheus' client libraries call it), not kept as registry gauges: a node
// not in the list has no series at all (nothing stale to remove), a live value not reported has
// none either, and a scrape of 5,000 nodes is one pass over them (the registry adds a labelled
// series by copying its family, quadratic in nodes).
import AegisProtocol

enum NodeSeries {
    /// One gauge family: its name and each node's value (nil: no sample for that node).
    struct Family: Sendable {
        var name: String
        var value: @Sendable (NodeInfo) -> Double?
    }

    static let families: [Family] = [
        Family(name: "aegis_node_cpu_allocated_cores") { Double($0.allocated.cpuMillis) / 1000 },
        Family(name: "aegis_node_cpu_free_cores") { Double(max(0, $0.capabilities.cpuMillis - $0.allocated.cpuMillis)) / 1000 },
        Family(name: "aegis_node_memory_allocated_bytes") { Double($0.allocated.memoryBytes) },
        Family(name: "aegis_node_memory_free_bytes") { Double(max(0, $0.capabilities.memoryBytes - $0.allocated.memoryBytes)) },
        Family(name: "aegis_node_gpus_allocated") { Double($0.allocated.gpus.count) },
        Family(name: "aegis_node_gpus_free") { Double(max(0, $0.capabilities.gpus.count - $0.allocated.gpus.count)) },
        Family(name: "aegis_node_cordoned") { $0.cordoned ? 1 : 0 },
        Family(name: "aegis_node_running_sandboxes") { $0.live.map { Double($0.runningAgents) } },
        Family(name: "aegis_node_memory_available_bytes") { $0.live?.memoryAvailableBytes.map(Double.init) },
        Family(name: "aegis_node_load1") { $0.live?.loadMillis.map { Double($0) / 1000 } },
    ]

    static let conditionFamily = "aegis_node_condition"

    /// Appends the node families in text format 0.0.4 (HELP, TYPE, samples; nodes by name; a
    /// family without any sample is left out). `aegis_node_condition` has one sample per
    /// `NodeCondition` case for each node: 1 for its `state`, 0 for the others.
    static func render(_ nodes: [NodeInfo], into out: inout [UInt8]) {
        guard !nodes.isEmpty else { return }
        let sorted = nodes.sorted { $0.name < $1.name }
        let labels = sorted.map { escaped($0.name) }
        for family in families {
            let values = sorted.map(family.value)
            guard values.contains(where: { $0 != nil }) else { continue }
            header(family.name, into: &out)
            for (i, value) in values.enumerated() {
                guard let value else { continue }
                sample(family.name, node: labels[i], value: value, into: &out)
            }
        }
        header(conditionFamily, into: &out)
        for (i, node) in sorted.enumerated() {
            for condition in NodeCondition.allCases {
                sample(
                    conditionFamily, node: labels[i], extra: ("condition", condition.rawValue),
                    value: condition == node.state ? 1 : 0, into: &out)
            }
        }
    }

    static func header(_ name: String, into out: inout [UInt8]) {
        out.append(contentsOf: "# HELP \(name) \(MetricsHelp.text[name] ?? name)\n# TYPE \(name) gauge\n".utf8)
    }

    static func sample(
        _ name: String, node: [UInt8], extra: (String, String)? = nil, value: Double, into out: inout [UInt8]
    ) {
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: "{node=\"".utf8)
        out.append(contentsOf: node)
        out.append(UInt8(ascii: "\""))
        if let (key, labelValue) = extra {
            out.append(contentsOf: ",\(key)=\"".utf8)
            out.append(contentsOf: escaped(labelValue))
            out.append(UInt8(ascii: "\""))
        }
        out.append(contentsOf: "} ".utf8)
        out.append(contentsOf: format(value).utf8)
        out.append(UInt8(ascii: "\n"))
    }

    /// A label value with `\`, `"` and newlines escaped.
    static func escaped(_ value: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: #"\n"#.utf8)
            default: out.append(byte)
            }
        }
        return out
    }

    /// Whole numbers without a fraction ("8589934592"), others as Swift writes them ("0.25").
    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return value.description
    }
}

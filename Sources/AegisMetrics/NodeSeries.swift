// NodeSeries.swift — every node's series, labelled by node name only (a bounded set: the
// cluster's nodes): what the scheduler counts on it (cpu, memory, GPUs: capacity and allocated),
// its cordon, its condition, and the sandboxes its worker last reported running with a lease
// renewal. They are rendered at scrape time from the latest list of nodes (a collector, as
// Prometheus' client libraries call it), not kept as registry gauges: a node not in the list has
// no series at all (nothing stale to remove), and a scrape of 5,000 nodes is one pass over them
// writing bytes straight into the exposition (the registry adds a labelled series by copying its
// family, quadratic in nodes).
//
// Size is the constraint (issue 13: ≤ 2 MB with 5,000 nodes; a line is ~40–65 bytes, so a node
// can afford about seven): free = capacity − allocated is left to PromQL (kube-state-metrics
// exposes capacity and allocatable, cAdvisor `machine_cpu_cores` / `machine_memory_bytes`); the
// GPU families exist for nodes with GPUs only (kube-state-metrics lists only the resources a node
// has); `aegis_node_condition` has one series per node, its current condition at 1 (as
// kube-state-metrics' `…_waiting_reason` and `kube_pod_status_reason` emit only the reason that
// holds), not one per condition with zeros.
import AegisProtocol

enum NodeSeries {
    /// A sample's value, exact: a count (bytes, GPUs, sandboxes, 0/1) or thousandths (millicores
    /// written as cores).
    enum Value: Equatable {
        case count(Int64)
        case thousandths(Int64)
    }

    /// What the families read of one node: plain numbers, taken out of its `NodeInfo` once per
    /// render (a family reading the `NodeInfo` itself would copy it, retains and all, per sample).
    struct Numbers {
        var cpuMillis: Int64
        var cpuAllocatedMillis: Int64
        var memoryBytes: Int64
        var memoryAllocatedBytes: Int64
        /// nil for a node without GPUs (and none assigned on it).
        var gpus: (total: Int64, allocated: Int64)?
        /// nil until its worker reported with a lease renewal.
        var runningSandboxes: Int64?
        var cordoned: Bool
        var condition: NodeCondition

        init(_ node: NodeInfo) {
            cpuMillis = node.capabilities.cpuMillis
            cpuAllocatedMillis = node.allocated.cpuMillis
            memoryBytes = node.capabilities.memoryBytes
            memoryAllocatedBytes = node.allocated.memoryBytes
            let total = node.capabilities.gpus.count, allocated = node.allocated.gpus.count
            gpus = total > 0 || allocated > 0 ? (Int64(total), Int64(allocated)) : nil
            runningSandboxes = node.live.map { Int64($0.runningAgents) }
            cordoned = node.cordoned
            condition = node.state
        }
    }

    /// One gauge family: its name and each node's value (nil: no sample for that node).
    struct Family: Sendable {
        var name: String
        var value: @Sendable (Numbers) -> Value?
    }

    static let families: [Family] = [
        Family(name: "aegis_node_cpu_cores") { .thousandths($0.cpuMillis) },
        Family(name: "aegis_node_cpu_allocated_cores") { .thousandths($0.cpuAllocatedMillis) },
        Family(name: "aegis_node_memory_bytes") { .count($0.memoryBytes) },
        Family(name: "aegis_node_memory_allocated_bytes") { .count($0.memoryAllocatedBytes) },
        Family(name: "aegis_node_gpus") { $0.gpus.map { .count($0.total) } },
        Family(name: "aegis_node_gpus_allocated") { $0.gpus.map { .count($0.allocated) } },
        Family(name: "aegis_node_running_sandboxes") { $0.runningSandboxes.map { .count($0) } },
        Family(name: "aegis_node_cordoned") { .count($0.cordoned ? 1 : 0) },
    ]

    static let conditionFamily = "aegis_node_condition"

    /// Appends the node families in text format 0.0.4 (HELP, TYPE, samples; nodes by name; a
    /// family without any sample is left out). `aegis_node_condition` has one sample per node:
    /// `condition` its state, value 1.
    static func render(_ nodes: [NodeInfo], into out: inout [UInt8]) {
        guard !nodes.isEmpty else { return }
        let sorted = isSortedByName(nodes) ? nodes : nodes.sorted { $0.name < $1.name }
        let labels = sorted.map { escaped($0.name) }
        let numbers = sorted.map(Numbers.init)
        // About 7 lines per node of ~46 bytes besides the node's name.
        out.reserveCapacity(out.count + sorted.count * 7 * (46 + labels[0].count))
        for family in families {
            let name = Array(family.name.utf8)
            var headed = false
            for (i, node) in numbers.enumerated() {
                guard let value = family.value(node) else { continue }
                if !headed { header(family.name, into: &out) }
                headed = true
                sample(name, node: labels[i], value: value, into: &out)
            }
        }
        header(conditionFamily, into: &out)
        let name = Array(conditionFamily.utf8)
        for (i, node) in numbers.enumerated() {
            sample(name, node: labels[i], condition: node.condition.rawValue, value: .count(1), into: &out)
        }
    }

    /// Whether `nodes` is in name order already (the store lists them so): no sort then.
    static func isSortedByName(_ nodes: [NodeInfo]) -> Bool {
        nodes.indices.dropFirst().allSatisfy { nodes[$0 - 1].name < nodes[$0].name }
    }

    static func header(_ name: String, into out: inout [UInt8]) {
        out.append(contentsOf: "# HELP \(name) \(MetricsHelp.text[name] ?? name)\n# TYPE \(name) gauge\n".utf8)
    }

    /// `name{node="…"[,condition="…"]} value\n`; `node` escaped already, `condition` a
    /// `NodeCondition` (nothing to escape).
    static func sample(_ name: [UInt8], node: [UInt8], condition: String? = nil, value: Value, into out: inout [UInt8]) {
        out.append(contentsOf: name)
        out.append(contentsOf: #"{node=""#.utf8)
        out.append(contentsOf: node)
        if let condition {
            out.append(contentsOf: #"",condition=""#.utf8)
            out.append(contentsOf: condition.utf8)
        }
        out.append(contentsOf: #""} "#.utf8)
        append(value, to: &out)
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

    /// A count in decimal ("8589934592"); thousandths as a decimal fraction without trailing
    /// zeros ("0.25", "4", "0.001").
    static func append(_ value: Value, to out: inout [UInt8]) {
        switch value {
        case let .count(n):
            appendDecimal(n, to: &out)
        case let .thousandths(n):
            if n < 0 { out.append(UInt8(ascii: "-")) }
            appendDecimal(Int64(n.magnitude / 1000), to: &out)
            var fraction = n.magnitude % 1000
            guard fraction > 0 else { return }
            out.append(UInt8(ascii: "."))
            var unit: UInt64 = 100
            while fraction > 0 {
                out.append(UInt8(ascii: "0") + UInt8(fraction / unit))
                fraction %= unit
                unit /= 10
            }
        }
    }

    /// `n` in decimal, written in place (no String in between).
    static func appendDecimal(_ n: Int64, to out: inout [UInt8]) {
        if n < 0 { out.append(UInt8(ascii: "-")) }
        var rest = n.magnitude
        var width = 1
        var probe = rest
        while probe >= 10 {
            probe /= 10
            width += 1
        }
        out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width))
        var i = out.count - 1
        repeat {
            out[i] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            i -= 1
        } while rest > 0
    }
}

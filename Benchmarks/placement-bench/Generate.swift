// Generate.swift — the simulated cluster and the pending agents (deterministic for a seed).

import AegisProtocol
import AegisScheduler

/// SplitMix64: small, fast, reproducible.
struct BenchRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }

    /// Picks by weight.
    mutating func weighted<T>(_ items: [(T, Int)]) -> T {
        var r = Int(next() % UInt64(items.reduce(0) { $0 + $1.1 }))
        for (item, w) in items {
            if r < w { return item }
            r -= w
        }
        return items[items.count - 1].0
    }
}

let GiB: Int64 = 1 << 30
let MiB: Int64 = 1 << 20

/// Nodes: cpu 2–64 cores, memory 4–512 GiB, 0/4/8 GPUs (nvidia or amd), python3 3.9–3.12 and node
/// 18–22 subsets, zone a–e; a few NotReady, cordoned, or without cgroup controllers.
func makeNodes(_ count: Int, rng: inout BenchRNG) -> [NodeState] {
    let nvidia = ["NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "NVIDIA L4"]
    let amd = ["AMD Instinct MI250X", "AMD Instinct MI300X"]
    let pythons = ["3.9.18", "3.10.13", "3.11.2", "3.12.1"]
    let nodes = ["18.19.0", "20.11.1", "22.3.0"]
    let zones = ["a", "b", "c", "d", "e"]
    return (0..<count).map { i in
        let cores = rng.weighted([(Int64(2), 10), (4, 20), (8, 25), (16, 20), (32, 15), (64, 10)])
        let perCore = rng.weighted([(Int64(2), 1), (Int64(4), 2), (Int64(8), 1)])
        let memory = min(512, max(4, cores * perCore)) * GiB
        let gpuCount = rng.weighted([(0, 84), (4, 8), (8, 8)])
        var gpus: [GPUDevice] = []
        if gpuCount > 0 {
            let isNvidia = rng.chance(0.7)
            let model = isNvidia ? nvidia.randomElement(using: &rng)! : amd.randomElement(using: &rng)!
            let bus = String(i, radix: 16)
            gpus = (0..<gpuCount).map { k in
                GPUDevice(
                    vendor: isNvidia ? "nvidia" : "amd", model: model, pciAddress: "\(bus):\(String(k, radix: 16)):00.0",
                    index: k, memoryBytes: 80 * GiB.toUInt64)
            }
        }
        var runtimes = pythons.filter { _ in rng.chance(0.5) }.map {
            RuntimeInfo(name: "python3", version: $0, path: "/usr/bin/python\($0)")
        }
        if runtimes.isEmpty { runtimes.append(RuntimeInfo(name: "python3", version: "3.11.2", path: "/usr/bin/python3")) }
        runtimes += nodes.filter { _ in rng.chance(0.4) }.map { RuntimeInfo(name: "node", version: $0, path: "/usr/bin/node") }
        let iso = rng.weighted([(0, 90), (1, 6), (2, 4)])
        let isolation = IsolationFeatures(
            cgroupControllers: iso == 0 ? ["cpu", "memory", "pids"] : [], seccomp: true,
            userNamespaces: true, kernelVersion: "6.1.0", allowUnenforcedLimits: iso == 1)
        let caps = NodeCapabilities(
            cpuMillis: cores * 1000, memoryBytes: memory, gpus: gpus, runtimes: runtimes,
            isolation: isolation, labels: ["zone": zones.randomElement(using: &rng)!])
        let state: NodeCondition = rng.chance(0.03) ? .notReady : .ready
        return NodeState(name: "node-\(i)", capabilities: caps, state: state, cordoned: rng.chance(0.01))
    }
}

/// Agents: mostly python3/node with version constraints, cpu 250m–8 cores or unset, memory
/// 256 MiB–16 GiB or unset, 8 % with 1–8 GPUs, 20 % pinned to a zone, 0.5 % impossible (an absent GPU
/// model) so the pending path is exercised.
func makeAgents(_ count: Int, rng: inout BenchRNG) -> [PlacementRequest] {
    let pyConstraints: [String?] = [nil, ">=3.10", "^3.11", "3.12", "~3.11", ">=3.9,<3.12"]
    let nodeConstraints: [String?] = [nil, "^20", ">=18", "22"]
    return (0..<count).map { i in
        var runtime = "command"
        var reqs: [RuntimeRequirement] = []
        switch rng.weighted([(0, 60), (1, 25), (2, 15)]) {
        case 0:
            runtime = "python3"
            reqs = [RuntimeRequirement(name: "python3", version: pyConstraints.randomElement(using: &rng)!)]
        case 1:
            runtime = "node"
            reqs = [RuntimeRequirement(name: "node", version: nodeConstraints.randomElement(using: &rng)!)]
        default: break
        }
        let cpu: Int64? = rng.chance(0.3) ? nil : [250, 500, 1000, 2000, 4000, 8000].randomElement(using: &rng)!
        let memory: Int64? =
            rng.chance(0.3)
            ? nil
            : [256 * MiB, 512 * MiB, GiB, 2 * GiB, 4 * GiB, 8 * GiB, 16 * GiB]
                .randomElement(using: &rng)!
        var gpu: GPURequirement?
        if rng.chance(0.005) {
            gpu = GPURequirement(vendor: "nvidia", model: "H200", count: 1)
        } else if rng.chance(0.08) {
            let nv = rng.chance(0.75)
            let model: String? = rng.chance(0.6) ? nil : (nv ? ["a100", "h100"].randomElement(using: &rng)! : "mi300")
            gpu = GPURequirement(
                vendor: nv ? "nvidia" : "amd", model: model,
                count: rng.weighted([(1, 50), (2, 25), (4, 15), (8, 10)]))
        }
        let labels = rng.chance(0.2) ? ["zone": ["a", "b", "c", "d", "e"].randomElement(using: &rng)!] : [:]
        let spec = WorkloadSpec(
            tenant: "tenant-\(i % 50)", name: "agent-\(i)", runtime: runtime, args: [runtime, "main"],
            resources: ResourceRequest(cpuMillis: cpu, memoryBytes: memory, pids: rng.chance(0.2) ? 256 : nil),
            requires: Requirements(runtimes: reqs, gpu: gpu, labels: labels))
        return PlacementRequest(workloadID: "wl-\(i)", spec: spec)
    }
}

extension Int64 {
    var toUInt64: UInt64 { UInt64(self) }
}

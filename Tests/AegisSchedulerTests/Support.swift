import AegisProtocol
@testable import AegisScheduler
import XCTest

let MiB: Int64 = 1 << 20
let GiB: Int64 = 1 << 30

func gpu(_ vendor: String, _ model: String, _ pci: String) -> GPUDevice {
    GPUDevice(vendor: vendor, model: model, pciAddress: pci)
}

func caps(
    cpu: Int64 = 4000, memory: Int64 = 8 * GiB, gpus: [GPUDevice] = [],
    runtimes: [RuntimeInfo] = [RuntimeInfo(name: "python3", version: "3.11.2", path: "/usr/bin/python3")],
    controllers: [String] = ["memory", "cpu", "pids"], allowUnenforced: Bool = false,
    labels: [String: String] = [:], network: NetworkCapability? = nil
) -> NodeCapabilities {
    NodeCapabilities(
        cpuMillis: cpu, memoryBytes: memory, gpus: gpus, runtimes: runtimes,
        isolation: IsolationFeatures(cgroupControllers: controllers, allowUnenforcedLimits: allowUnenforced),
        labels: labels, network: network)
}

func node(
    _ name: String, _ c: NodeCapabilities = caps(), allocated: Allocation = Allocation(),
    state: NodeCondition = .ready, cordoned: Bool = false
) -> NodeState {
    NodeState(name: name, capabilities: c, allocated: allocated, state: state, cordoned: cordoned)
}

func spec(
    runtime: String = "python3", cpu: Int64? = nil, memory: Int64? = nil, pids: Int64? = nil, gpus: Int = 0,
    gpu: GPURequirement? = nil, runtimes: [RuntimeRequirement] = [], labels: [String: String] = [:],
    network: NetworkMode = .none, reach: [String]? = nil, tenant: String = "acme"
) -> WorkloadSpec {
    WorkloadSpec(
        tenant: tenant, name: "agent", runtime: runtime, args: [runtime, "main"],
        resources: ResourceRequest(cpuMillis: cpu, memoryBytes: memory, pids: pids, gpus: gpus),
        requires: Requirements(runtimes: runtimes, gpu: gpu, labels: labels, reach: reach), network: network)
}

func req(_ id: String = "w1", _ s: WorkloadSpec = spec()) -> PlacementRequest {
    PlacementRequest(workloadID: id, spec: s)
}

/// The pending reason, failing the test when the decision is a placement.
func reason(_ d: PlacementDecision, file: StaticString = #filePath, line: UInt = #line) -> String {
    guard case .pending(let r) = d else {
        XCTFail("expected pending, got \(d)", file: file, line: line)
        return ""
    }
    return r
}

/// Deterministic generator for randomised tests.
struct TestRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A varied cluster: cpu 1–16 cores, memory 1–64 GiB, some GPU nodes, python3/node versions, zones.
func randomCluster(_ count: Int, rng: inout TestRNG) -> [NodeState] {
    let pythons = ["3.9.18", "3.10.13", "3.11.2", "3.12.1"]
    let vendors = [("nvidia", "NVIDIA A100-SXM4-80GB"), ("nvidia", "NVIDIA L4"), ("amd", "AMD Instinct MI250X")]
    return (0..<count).map { i in
        var gpus: [GPUDevice] = []
        if Int.random(in: 0..<5, using: &rng) == 0 {
            let (v, m) = vendors.randomElement(using: &rng)!
            gpus = (0..<Int.random(in: 1...4, using: &rng)).map { gpu(v, m, "0000:\(String(i, radix: 16)):\($0).0") }
        }
        let runtimes =
            [RuntimeInfo(name: "python3", version: pythons.randomElement(using: &rng)!, path: "/usr/bin/python3")]
            + (Bool.random(using: &rng) ? [RuntimeInfo(name: "node", version: "20.11.1", path: "/usr/bin/node")] : [])
        let c = caps(
            cpu: Int64.random(in: 1...16, using: &rng) * 1000, memory: Int64.random(in: 1...64, using: &rng) * GiB,
            gpus: gpus, runtimes: runtimes,
            controllers: Int.random(in: 0..<10, using: &rng) == 0 ? [] : ["memory", "cpu", "pids"],
            labels: ["zone": ["a", "b", "c"].randomElement(using: &rng)!])
        return node(String(format0(i)), c, state: Int.random(in: 0..<20, using: &rng) == 0 ? .notReady : .ready)
    }
}

func format0(_ i: Int) -> String {
    let s = String(i)
    return "n" + String(repeating: "0", count: max(0, 4 - s.count)) + s
}

func randomSpec(_ rng: inout TestRNG) -> WorkloadSpec {
    let constraints: [String?] = [nil, ">=3.10", "^3", "3.11", "~3.12", "<3.11"]
    var gpuReq: GPURequirement?
    if Int.random(in: 0..<6, using: &rng) == 0 {
        gpuReq = GPURequirement(
            vendor: ["nvidia", "amd", nil].randomElement(using: &rng)!,
            model: [nil, "a100", "L4"].randomElement(using: &rng)!, count: Int.random(in: 1...2, using: &rng))
    }
    return spec(
        cpu: Bool.random(using: &rng) ? Int64.random(in: 1...40, using: &rng) * 100 : nil,
        memory: Bool.random(using: &rng) ? Int64.random(in: 1...16, using: &rng) * 512 * MiB : nil,
        gpu: gpuReq,
        runtimes: [RuntimeRequirement(name: "python3", version: constraints.randomElement(using: &rng)!)],
        labels: Int.random(in: 0..<4, using: &rng) == 0 ? ["zone": "b"] : [:])
}

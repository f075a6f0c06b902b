// Fill.swift — the cluster scrape-bench puts in a fresh SQLite store, deterministic for its
// options: tenants (the last one with a running-agents quota it has used up), nodes (capacities,
// GPUs on every tenth, a few stored Down or NotReady as a restarted controller finds them) and
// workloads in every state, the running ones spread over the Ready nodes within their capacity.
import AegisControl
import AegisProtocol
import AegisStore

let GiB: Int64 = 1 << 30
let MiB: Int64 = 1 << 20

/// What scrape-bench stores: how many of each, and the rules that make them.
struct ClusterShape {
    var nodes: Int
    var workloads: Int
    var tenants: Int

    /// "t00", "t01", …; the last one has `quotaTenantAgents` running agents at most.
    var tenantNames: [String] { (0..<tenants).map { tenantName($0) } }
    func tenantName(_ i: Int) -> String { i < 10 ? "t0\(i)" : "t\(i)" }
    var quotaTenant: String { tenantName(tenants - 1) }
    static let quotaTenantAgents = 10

    /// The condition a node is stored with: 2 % Down and 1 % NotReady (their workers have not
    /// come back since the controller restarted), the others Ready (their workers attach).
    func storedCondition(_ i: Int) -> NodeCondition {
        if i % 50 == 7 { return .down }
        if i % 100 == 13 { return .notReady }
        return .ready
    }

    /// 1 % of the attached nodes are cordoned.
    func cordoned(_ i: Int) -> Bool { i % 100 == 29 }

    /// 16, 32 or 64 cores with 4 GiB per core; every tenth node has 8 GPUs.
    func capabilities(_ i: Int) -> NodeCapabilities {
        let cores = Int64([16, 32, 64][i % 3])
        let gpus = i % 10 == 0 ? (0..<8).map { gpu(node: i, $0) } : []
        return NodeCapabilities(
            cpuMillis: cores * 1000, memoryBytes: cores * 4 * GiB, gpus: gpus,
            runtimes: [RuntimeInfo(name: "python3", version: "3.11.2", path: "/usr/bin/python3")],
            isolation: IsolationFeatures(cgroupControllers: ["cpu", "memory", "pids"], seccomp: true, kernelVersion: "6.1.0"),
            labels: ["zone": ["a", "b", "c", "d"][i % 4]])
    }

    func gpu(node i: Int, _ k: Int) -> GPUDevice {
        GPUDevice(vendor: "nvidia", model: "NVIDIA A100-SXM4-80GB", pciAddress: "\(String(i, radix: 16)):\(k):00.0", index: k)
    }

    func nodeName(_ i: Int) -> String { "node-\(i)" }
}

/// The states workloads are stored in, by `index % 100`: 40 % running, 2 % scheduled, 5 % pending,
/// 35 % succeeded, 10 % failed, 8 % cancelled.
enum Mix {
    static func state(_ i: Int) -> WorkloadState {
        switch i % 100 {
        case 0..<40: .running
        case 40..<42: .scheduled
        case 42..<47: .pending
        case 47..<82: .succeeded
        case 82..<92: .failed
        default: .cancelled
        }
    }
}

/// Makes the workloads of `shape`, placing the active ones on Ready nodes round-robin (a GPU
/// node gives every other one a GPU of its own while it has one).
struct WorkloadMaker {
    let shape: ClusterShape
    let readyNodes: [Int]
    let nowMs = ControlStore.nowMs()
    private var nextNode = 0
    private var gpusTaken: [Int: Int] = [:]
    /// Active workloads per node index (what each worker reports as running).
    private(set) var activeOn: [Int: Int] = [:]

    init(shape: ClusterShape) {
        self.shape = shape
        readyNodes = (0..<shape.nodes).filter { shape.storedCondition($0) == .ready }
    }

    mutating func make(_ i: Int) -> Workload {
        let state = Mix.state(i)
        var tenant = shape.tenantName(i % shape.tenants)
        var spec = WorkloadSpec(
            tenant: tenant, name: "agent-\(i)", runtime: "python3", args: ["python3", "main.py"],
            resources: ResourceRequest(cpuMillis: [250, 500, 1000, 2000][i % 4], memoryBytes: [256 * MiB, 512 * MiB, GiB, 2 * GiB][i % 4]))
        if state == .pending {
            if i / 100 % 5 == 3 { tenant = shape.quotaTenant }
            spec = pendingSpec(i, spec, tenant: tenant)
        }
        var w = Workload(
            id: ControlStore.newWorkloadID(nowMs: nowMs - Int64(shape.workloads - i)), spec: spec, state: state,
            createdAtMs: nowMs - Int64(shape.workloads - i) * 1000)
        switch state {
        case .running, .scheduled: place(&w, i)
        case .pending: pendingDetails(&w, i)
        case .succeeded, .failed, .cancelled: finish(&w, i)
        case .lost: break
        }
        return w
    }

    /// Unplaceable on purpose, one reason class each: capacity, GPUs, runtime, quota, back-off.
    private func pendingSpec(_ i: Int, _ spec: WorkloadSpec, tenant: String) -> WorkloadSpec {
        var spec = spec
        spec.tenant = tenant
        switch i / 100 % 5 {
        case 0: spec.resources.cpuMillis = 256_000
        case 1: spec.requires.gpu = GPURequirement(vendor: "nvidia", count: 16)
        case 2: spec.requires.runtimes = [RuntimeRequirement(name: "python3", version: ">=3.99")]
        default: break
        }
        return spec
    }

    private func pendingDetails(_ w: inout Workload, _ i: Int) {
        guard i / 100 % 5 == 4 else { return }
        w.reason = "restarting after: exited with 1 (back-off 5m0s)"
        w.nextAttemptAtMs = nowMs + 3_600_000
        w.consecutiveExits = 6
    }

    private mutating func place(_ w: inout Workload, _ i: Int) {
        if w.spec.tenant == shape.quotaTenant && quotaTenantActive >= ClusterShape.quotaTenantAgents {
            w.spec.tenant = shape.tenantName(0)
        }
        if w.spec.tenant == shape.quotaTenant { quotaTenantActive += 1 }
        let node = readyNodes[nextNode % readyNodes.count]
        nextNode += 1
        w.node = shape.nodeName(node)
        w.generation = 1
        w.startedAtMs = w.state == .running ? w.createdAtMs + 800 : nil
        activeOn[node, default: 0] += 1
        if node % 10 == 0, i % 2 == 0, gpusTaken[node, default: 0] < 8 {
            w.gpus = [shape.gpu(node: node, gpusTaken[node, default: 0]).pciAddress]
            w.spec.resources.gpus = 1
            gpusTaken[node, default: 0] += 1
        }
    }

    private var quotaTenantActive = 0

    private func finish(_ w: inout Workload, _ i: Int) {
        w.node = shape.nodeName(readyNodes[i % readyNodes.count])
        w.generation = 1
        w.startedAtMs = w.createdAtMs + 800
        w.finishedAtMs = w.createdAtMs + 60_000
        switch w.state {
        case .succeeded: w.exitCode = 0
        case .failed:
            w.exitCode = 1
            w.reason = "exited with 1"
        default: w.reason = "cancelled"
        }
    }
}

/// What `fill` leaves for later: the active workloads per node index (what each worker reports
/// as running) and the pending workloads, stored once the workers are back (every node attaching
/// wakes a scheduling pass, and these can't be placed).
struct Filled {
    var activeOn: [Int: Int]
    var pending: [NewWorkload]
}

/// Fills `store`: tenants, every node as stored before a restart, the workloads that are not
/// pending (in batches of 5,000).
func fill(_ store: ControlStore, _ shape: ClusterShape) throws -> Filled {
    for name in shape.tenantNames {
        let quota = name == shape.quotaTenant ? Quota(runningAgents: ClusterShape.quotaTenantAgents) : Quota()
        _ = try store.createTenant(name: name, quota: quota)
    }
    for i in 0..<shape.nodes {
        let info = NodeInfo(
            name: shape.nodeName(i), role: .worker, state: shape.storedCondition(i), capabilities: shape.capabilities(i))
        try store.upsertNode(info)
    }
    var maker = WorkloadMaker(shape: shape)
    var batch: [NewWorkload] = []
    var pending: [NewWorkload] = []
    for i in 0..<shape.workloads {
        let w = maker.make(i)
        if w.state == .pending { pending.append(NewWorkload(w)) } else { batch.append(NewWorkload(w)) }
        if batch.count == 5_000 || (i == shape.workloads - 1 && !batch.isEmpty) {
            try insert(batch, into: store)
            batch = []
        }
    }
    return Filled(activeOn: maker.activeOn, pending: pending)
}

/// Stores `batch` in one transaction. - Throws: `BenchError` when any is refused.
func insert(_ batch: [NewWorkload], into store: ControlStore) throws {
    let refused = try store.insertWorkloads(batch).compactMap { $0 }
    guard refused.isEmpty else { throw BenchError("workloads refused: \(refused.prefix(3))") }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

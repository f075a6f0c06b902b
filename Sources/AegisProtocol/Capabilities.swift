// Capabilities.swift — what a worker advertises about itself (detected by AegisNode, routed on by
// the controller's scheduler). Units: cpu in millicores, memory in bytes.

/// One GPU, as detected from sysfs/procfs/device nodes (and nvidia-smi when present).
public struct GPUDevice: Codable, Sendable, Equatable, Hashable {
    /// "nvidia", "amd", "intel".
    public var vendor: String
    /// Marketing model name when known ("NVIDIA A100-SXM4-80GB"), else the PCI device id ("0x20b2").
    public var model: String
    /// PCI address "0000:3b:00.0".
    public var pciAddress: String
    /// Vendor index used for *_VISIBLE_DEVICES (NVIDIA minor number / AMD render index), when known.
    public var index: Int?
    /// GPU UUID (NVIDIA) when known.
    public var uuid: String?
    /// Memory in bytes when known.
    public var memoryBytes: UInt64?
    /// Device nodes that give access to this GPU ("/dev/nvidia0", "/dev/dri/renderD128").
    public var deviceNodes: [String]

    public init(
        vendor: String, model: String, pciAddress: String, index: Int? = nil, uuid: String? = nil,
        memoryBytes: UInt64? = nil, deviceNodes: [String] = []
    ) {
        self.vendor = vendor
        self.model = model
        self.pciAddress = pciAddress
        self.index = index
        self.uuid = uuid
        self.memoryBytes = memoryBytes
        self.deviceNodes = deviceNodes
    }
}

/// An installed language runtime found on PATH ("python3" "3.11.2" at /usr/bin/python3).
public struct RuntimeInfo: Codable, Sendable, Equatable, Hashable {
    public var name: String
    public var version: String
    public var path: String

    public init(name: String, version: String, path: String) {
        self.name = name
        self.version = version
        self.path = path
    }
}

/// A runtime found on the node daemon's PATH that agents can't use ("python3" at
/// /root/.pyenv/shims/python3: "not visible to agents (outside /usr, /bin, …)").
public struct UnavailableRuntime: Codable, Sendable, Equatable, Hashable {
    public var name: String
    /// Where the daemon found it (host path).
    public var path: String
    /// Why agents can't run it.
    public var reason: String

    public init(name: String, path: String, reason: String) {
        self.name = name
        self.path = path
        self.reason = reason
    }

    /// "python3 at /root/.pyenv/shims/python3: not visible to agents (outside /usr, /bin, …)".
    public var summary: String { "\(name) at \(path): \(reason)" }
}

/// Which isolation features actually work on the node.
public struct IsolationFeatures: Codable, Sendable, Equatable {
    /// cgroup v2 controllers usable for sandboxes ("memory", "cpu", "pids", …).
    public var cgroupControllers: [String]
    public var seccomp: Bool
    public var userNamespaces: Bool
    public var kernelVersion: String
    /// The operator started the node with --allow-unenforced-limits: limits it can't enforce are
    /// accepted and shown as not enforced.
    public var allowUnenforcedLimits: Bool

    public init(
        cgroupControllers: [String] = [], seccomp: Bool = false, userNamespaces: Bool = false,
        kernelVersion: String = "", allowUnenforcedLimits: Bool = false
    ) {
        self.cgroupControllers = cgroupControllers
        self.seccomp = seccomp
        self.userNamespaces = userNamespaces
        self.kernelVersion = kernelVersion
        self.allowUnenforcedLimits = allowUnenforcedLimits
    }
}

/// Everything a node advertises.
public struct NodeCapabilities: Codable, Sendable, Equatable {
    /// Allocatable CPU in millicores (cgroup cpu.max and affinity aware).
    public var cpuMillis: Int64
    /// Allocatable memory in bytes (cgroup memory.max aware).
    public var memoryBytes: Int64
    public var gpus: [GPUDevice]
    /// Runtimes as agents see them: found on the agents' PATH inside the directories their
    /// sandboxes bind (AgentProfile), with the version those executables report.
    public var runtimes: [RuntimeInfo]
    /// Runtimes found on the daemon's PATH that agents can't run, with the reason (nil from nodes
    /// that don't report them).
    public var unavailableRuntimes: [UnavailableRuntime]?
    public var isolation: IsolationFeatures
    /// Operator labels ("zone" = "lab-2", "reach" = "internet").
    public var labels: [String: String]
    /// Reasons detection was partial ("nvidia-smi: timed out after 5 s"); never fatal.
    public var warnings: [String]
    /// Egress mode and reachability (nil: no egress, no reach labels).
    public var network: NetworkCapability?
    /// Self-fencing: the longest lease grace of the worker's sandboxes, ms (its own and that of
    /// sandboxes it re-adopted from an earlier start). The controller moves the agents of a Down
    /// node only once this much has passed since the last renewal (plus its margin). nil: no lease.
    public var leaseGraceMs: Int?
    /// The OCI images the node holds, by every spelling of their references (`python:3.12` and
    /// `registry-1.docker.io/library/python:3.12` alike). The scheduler prefers these nodes for
    /// workloads from one of them (a locality score, never a filter). nil from nodes without an
    /// image store.
    public var images: [String]?

    public init(
        cpuMillis: Int64 = 0, memoryBytes: Int64 = 0, gpus: [GPUDevice] = [], runtimes: [RuntimeInfo] = [],
        isolation: IsolationFeatures = IsolationFeatures(), labels: [String: String] = [:], warnings: [String] = [],
        network: NetworkCapability? = nil, unavailableRuntimes: [UnavailableRuntime]? = nil
    ) {
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
        self.gpus = gpus
        self.runtimes = runtimes
        self.unavailableRuntimes = unavailableRuntimes
        self.isolation = isolation
        self.labels = labels
        self.warnings = warnings
        self.network = network
    }
}

/// What a node does in the cluster (a hybrid node is controller and worker in one). A node
/// certificate carries it as its subject OU, so the controller reads it from the TLS peer.
public enum NodeRole: String, Codable, Sendable, CaseIterable {
    /// Runs the control plane and serves the API.
    case controller
    /// Runs agents; talks to the controller as a TLS client.
    case worker
    /// Both in one process (`aegis up`).
    case hybrid
}

/// A node as the controller knows it.
public struct NodeInfo: Codable, Sendable, Equatable {
    public var name: String
    public var role: NodeRole
    /// Ready, NotReady, Down (leases), Disconnected, Stopping; Cordoned is shown separately.
    public var state: NodeCondition
    public var cordoned: Bool
    public var capabilities: NodeCapabilities
    /// Currently reserved by placed agents.
    public var allocated: Allocation
    /// What the node's last lease renewal reported (remote workers only; not stored).
    public var live: LiveCapacity?

    public init(
        name: String, role: NodeRole, state: NodeCondition = .ready, cordoned: Bool = false,
        capabilities: NodeCapabilities, allocated: Allocation = Allocation()
    ) {
        self.name = name
        self.role = role
        self.state = state
        self.cordoned = cordoned
        self.capabilities = capabilities
        self.allocated = allocated
    }
}

/// What a worker measures about itself and sends with every lease renewal.
public struct LiveCapacity: Codable, Sendable, Equatable {
    /// Sandboxes running on the node now.
    public var runningAgents: Int
    /// MemAvailable of the node (/proc/meminfo), bytes.
    public var memoryAvailableBytes: Int64?
    /// 1-minute load average × 1000 (/proc/loadavg), i.e. busy millicores.
    public var loadMillis: Int64?
    /// When the controller received it, Unix ms.
    public var reportedAtMs: Int64?

    public init(runningAgents: Int, memoryAvailableBytes: Int64? = nil, loadMillis: Int64? = nil, reportedAtMs: Int64? = nil) {
        self.runningAgents = runningAgents
        self.memoryAvailableBytes = memoryAvailableBytes
        self.loadMillis = loadMillis
        self.reportedAtMs = reportedAtMs
    }
}

/// Reserved resources (cpu millicores, memory bytes, GPUs by PCI address, running agents, of which
/// egress agents: each holds one address of the node's egress subnet).
public struct Allocation: Codable, Sendable, Equatable {
    public var cpuMillis: Int64
    public var memoryBytes: Int64
    public var gpus: [String]
    public var agents: Int
    public var egressAgents: Int?

    public init(cpuMillis: Int64 = 0, memoryBytes: Int64 = 0, gpus: [String] = [], agents: Int = 0, egressAgents: Int? = nil) {
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
        self.gpus = gpus
        self.agents = agents
        self.egressAgents = egressAgents
    }
}

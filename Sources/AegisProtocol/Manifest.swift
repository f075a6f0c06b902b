// Manifest.swift — a tenant's agent (workload) description, as submitted in YAML or JSON, and the
// resolved form the controller stores. Units: cpu in millicores, memory in bytes, time in seconds.

/// Restart policy (as Kubernetes' pod restartPolicy).
public enum RestartPolicy: String, Codable, Sendable, CaseIterable {
    case never = "never", onFailure = "on-failure", always = "always"
}

/// Network modes of an agent sandbox.
public enum NetworkMode: String, Codable, Sendable, CaseIterable {
    /// Own network namespace with only `lo` (default).
    case none
    /// Same isolation as `none`: the sandbox's own loopback only.
    case loopback
    /// The host's network namespace — admin only (exposes host loopback services, this API too).
    case host
    /// Own network namespace with a veth on the node's bridge, source-NATed out through the host's
    /// uplink; public destinations only, plus the manifest's `egress.allow` entries (nftables).
    case egress
}

/// What the scheduler reserves and the sandbox enforces.
public struct ResourceRequest: Codable, Sendable, Equatable {
    /// Millicores (1000 = one CPU). Enforced as cpu.max quota over a 100 ms period.
    public var cpuMillis: Int64?
    /// Bytes. Enforced as memory.max (and memory.swap.max 0).
    public var memoryBytes: Int64?
    /// Enforced as pids.max.
    public var pids: Int64?
    /// Whole GPUs, assigned exclusively.
    public var gpus: Int
    /// Bytes: the size of /work, a file system of the sandbox's own (writes beyond it get ENOSPC).
    /// Nil: the node's default, 4 GiB. `Bounds.diskRange`.
    public var diskBytes: Int64?
    /// Bytes: the size of /tmp, a tmpfs (its pages count against the memory limit). Nil: 1 GiB.
    public var tmpBytes: Int64?

    public init(
        cpuMillis: Int64? = nil, memoryBytes: Int64? = nil, pids: Int64? = nil, gpus: Int = 0,
        diskBytes: Int64? = nil, tmpBytes: Int64? = nil
    ) {
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.gpus = gpus
        self.diskBytes = diskBytes
        self.tmpBytes = tmpBytes
    }
}

/// A runtime requirement: name plus an optional version constraint (">=3.10", "^20", "3.11.*").
public struct RuntimeRequirement: Codable, Sendable, Equatable {
    public var name: String
    public var version: String?

    public init(name: String, version: String? = nil) {
        self.name = name
        self.version = version
    }
}

/// A GPU requirement: vendor, optional model substring, count.
public struct GPURequirement: Codable, Sendable, Equatable {
    public var vendor: String?
    public var model: String?
    public var count: Int

    public init(vendor: String? = nil, model: String? = nil, count: Int = 1) {
        self.vendor = vendor
        self.model = model
        self.count = count
    }
}

/// Capabilities a node must advertise for the agent to be placed there.
public struct Requirements: Codable, Sendable, Equatable {
    public var runtimes: [RuntimeRequirement]
    public var gpu: GPURequirement?
    public var labels: [String: String]
    /// Reachability labels the node must advertise ("internet", "corp-vpn"); egress agents only.
    public var reach: [String]?

    public init(
        runtimes: [RuntimeRequirement] = [], gpu: GPURequirement? = nil, labels: [String: String] = [:],
        reach: [String]? = nil
    ) {
        self.runtimes = runtimes
        self.gpu = gpu
        self.labels = labels
        self.reach = reach
    }
}

/// The validated, resolved manifest the controller stores and the worker runs.
public struct WorkloadSpec: Codable, Sendable, Equatable {
    public var tenant: String
    public var name: String
    /// A detected runtime ("python3", "node", …) or "command" for a plain command.
    public var runtime: String
    /// Full argv to run inside the sandbox (runtime already prepended for scripts/files).
    public var args: [String]
    public var env: [String: String]
    public var resources: ResourceRequest
    public var requires: Requirements
    public var network: NetworkMode
    /// Egress allowlist (network `egress` only); nil = public destinations only.
    public var egress: EgressSpec?
    /// Input files placed in the working directory: relative path → content.
    public var inputs: [String: [UInt8]]
    /// Directory (relative to the working directory) whose files are kept as outputs.
    public var outputDir: String
    /// Seconds; nil = no timeout.
    public var timeoutSeconds: Int?
    public var restart: RestartPolicy
    /// Delay before each restart by `restart`; nil = `RestartBackoff.standard` (10 s doubling to 5 min).
    /// Also the delay between image pull attempts (`ImagePullBackOff`).
    public var restartBackoff: RestartBackoff?
    /// The OCI image whose rootfs replaces the host's system directories; nil = the host profile.
    public var image: ImageSpec?

    public init(
        tenant: String, name: String, runtime: String, args: [String], env: [String: String] = [:],
        resources: ResourceRequest = ResourceRequest(), requires: Requirements = Requirements(),
        network: NetworkMode = .none, egress: EgressSpec? = nil, inputs: [String: [UInt8]] = [:],
        outputDir: String = "output", timeoutSeconds: Int? = nil, restart: RestartPolicy = .never,
        restartBackoff: RestartBackoff? = nil, image: ImageSpec? = nil
    ) {
        self.image = image
        self.restartBackoff = restartBackoff
        self.tenant = tenant
        self.name = name
        self.runtime = runtime
        self.args = args
        self.env = env
        self.resources = resources
        self.requires = requires
        self.network = network
        self.egress = egress
        self.inputs = inputs
        self.outputDir = outputDir
        self.timeoutSeconds = timeoutSeconds
        self.restart = restart
    }

    /// The runtimes this spec needs of the node: its own runtime (unless "command", or the image
    /// brings it) plus explicit requirements.
    public var neededRuntimes: [RuntimeRequirement] {
        var r = requires.runtimes
        if runtime != "command" && image == nil && !r.contains(where: { $0.name == runtime }) {
            r.append(RuntimeRequirement(name: runtime))
        }
        return r
    }
}

/// Lifecycle of a workload.
public enum WorkloadState: String, Codable, Sendable, CaseIterable {
    case pending, scheduled, running, succeeded, failed, cancelled, lost

    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled || self == .lost }
}

/// A workload as the API reports it.
public struct Workload: Codable, Sendable, Equatable {
    public var id: String
    public var spec: WorkloadSpec
    public var state: WorkloadState
    /// Why it is pending / failed ("needs 2 nvidia GPUs; node n1 has 0").
    public var reason: String?
    public var node: String?
    /// Placement generation: increases with every placement; stale copies are refused.
    public var generation: Int64
    public var exitCode: Int32?
    public var signal: Int32?
    public var oomKilled: Bool
    public var restarts: Int
    /// Unix time in milliseconds.
    public var createdAtMs: Int64
    public var startedAtMs: Int64?
    public var finishedAtMs: Int64?
    /// Limits the node could not enforce (started with --allow-unenforced-limits): "memory", "cpu", "pids".
    public var unenforcedLimits: [String]
    /// GPUs assigned (PCI addresses).
    public var gpus: [String]
    /// Restart back-off: while pending after a policy restart, not placed before this Unix time
    /// (milliseconds); nil = no wait.
    public var nextAttemptAtMs: Int64?
    /// Exits in a row that led to a restart, counting toward the back-off (reset after an agent ran
    /// `RestartBackoff.resetAfterSeconds`); nil = none.
    public var consecutiveExits: Int?

    public init(
        id: String, spec: WorkloadSpec, state: WorkloadState = .pending, reason: String? = nil, node: String? = nil,
        generation: Int64 = 0, exitCode: Int32? = nil, signal: Int32? = nil, oomKilled: Bool = false, restarts: Int = 0,
        createdAtMs: Int64, startedAtMs: Int64? = nil, finishedAtMs: Int64? = nil,
        unenforcedLimits: [String] = [], gpus: [String] = []
    ) {
        self.id = id
        self.spec = spec
        self.state = state
        self.reason = reason
        self.node = node
        self.generation = generation
        self.exitCode = exitCode
        self.signal = signal
        self.oomKilled = oomKilled
        self.restarts = restarts
        self.createdAtMs = createdAtMs
        self.startedAtMs = startedAtMs
        self.finishedAtMs = finishedAtMs
        self.unenforcedLimits = unenforcedLimits
        self.gpus = gpus
    }
}

/// Per-tenant quota (nil = unlimited).
public struct Quota: Codable, Sendable, Equatable {
    public var cpuMillis: Int64?
    public var memoryBytes: Int64?
    public var gpus: Int?
    public var runningAgents: Int?

    public init(cpuMillis: Int64? = nil, memoryBytes: Int64? = nil, gpus: Int? = nil, runningAgents: Int? = nil) {
        self.cpuMillis = cpuMillis
        self.memoryBytes = memoryBytes
        self.gpus = gpus
        self.runningAgents = runningAgents
    }
}

public struct Tenant: Codable, Sendable, Equatable {
    public var name: String
    public var quota: Quota
    /// Unprivileged uid the tenant's agents run as (distinct per tenant).
    public var uid: UInt32
    public var createdAtMs: Int64

    public init(name: String, quota: Quota = Quota(), uid: UInt32, createdAtMs: Int64) {
        self.name = name
        self.quota = quota
        self.uid = uid
        self.createdAtMs = createdAtMs
    }
}
